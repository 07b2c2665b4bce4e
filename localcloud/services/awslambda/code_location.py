"""GetFunction's Code.Location is a presigned URL, as on AWS: valid for 10 minutes, for
whoever holds it, and not forgeable.

ministack 1.5.33 signs every code URL with the same constant, so with admin endpoints off
the URL AWS users download code from was refused, and with them on anyone could fetch any
function's code by guessing its name. The signature is now an HMAC of the URL's path and
time (localcloud/auth/admin.py checks it at the door).
"""

from __future__ import annotations

from localcloud import seams
from localcloud.auth import admin
from localcloud.extension import Extension


def _signed(presigned_code_url):
    def code_url(func_name: str) -> str:
        return admin.sign_code_url(presigned_code_url(func_name))

    return code_url


def install() -> None:
    seams.awslambda.wrap_code_location(_signed)


EXTENSION = Extension(name="lambda_code_location", needed=seams.awslambda.code_location_signature_is_fixed,
                      install=install)
