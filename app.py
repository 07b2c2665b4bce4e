#!/usr/bin/env python3
"""CDK entry point: reads the deployment configuration and instantiates the stacks.

    cdk synth                          # config/local.json (the local cloud's accounts)
    cdk synth -c config=config/prod.json
"""

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk  # noqa: E402

from infra.config import CONFIG_CONTEXT_KEY, load_config  # noqa: E402
from infra.delivery_pipeline import DeliveryPipelineStack  # noqa: E402
from infra.nag import check_with_cdk_nag  # noqa: E402
from infra.stages import add_application, add_backbone  # noqa: E402

app = cdk.App()
config = load_config(app.node.try_get_context(CONFIG_CONTEXT_KEY))

if config.delivery == "pipeline":
    DeliveryPipelineStack(app, "DeliveryPipeline", config=config,
                          env=cdk.Environment(account=config.cicd.account, region=config.cicd.region))
else:
    for region in config.regions:
        add_backbone(app, config, region)
    for application in config.applications:
        add_application(app, config, application)

check_with_cdk_nag(app)
app.synth()
