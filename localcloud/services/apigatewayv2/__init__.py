"""HTTP APIs (API Gateway v2): first-class AWS service integrations, captured and served."""

from localcloud.extension import Extension
from localcloud.services.apigatewayv2 import data_plane, integrations

EXTENSION = Extension(name="http_api_integrations", needed=integrations.needed, install=integrations.install,
                      state=integrations.state, restore=integrations.restore, data_plane=data_plane.serve_request)
