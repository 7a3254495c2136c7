"""Identity policies for Secrets Manager's DescribeSecret, the one Secrets Manager read the tool
makes (see permissions.py for the policies themselves).

A principal that matches an entry of `/_ptc/identity_policies` may describe a secret only
when an entry allows `secretsmanager:DescribeSecret` on the secret's ARN (the entry's
`resources`, default every resource). A secret that does not exist has no ARN with its
six-character suffix: the resource is then the ARN the name alone gives, so a policy allowing
only `secret:NAME-??????` is answered AccessDeniedException rather than
ResourceNotFoundException (Secrets Manager's guide, "Finding a secret from a partial ARN":
"either a ResourceNotFoundException or an AccessDeniedException error, depending on your
permissions"). Principals matching no entry are not checked, as elsewhere.
"""

from moto.core.exceptions import JsonRESTError
from moto.secretsmanager.exceptions import SecretsManagerClientError
from moto.secretsmanager.responses import SecretsManagerResponse
from moto.utilities.utils import get_partition

import permissions
from emustate import STATE

ACTION = "secretsmanager:DescribeSecret"

_original_describe_secret = SecretsManagerResponse.describe_secret


class AccessDeniedException(JsonRESTError):
    code = 400

    def __init__(self, message: str):
        super().__init__("AccessDeniedException", message)


def _resource(response, secret_id: str) -> str:
    """The secret's ARN, or for a secret that does not exist the ARN its name gives."""
    try:
        return response.backend.describe_secret(secret_id).arn
    except SecretsManagerClientError:
        if secret_id.startswith("arn:"):
            return secret_id
        region, account = response.region, response.current_account
        return f"arn:{get_partition(region)}:secretsmanager:{region}:{account}:secret:{secret_id}"


def describe_secret(self) -> str:
    if STATE.identity_policies():
        secret_id = self._get_param("SecretId")
        principal = permissions.caller_principal(self.current_account, self.region, self.get_access_key())
        if not permissions.identity_allows(principal, ACTION, _resource(self, secret_id)):
            raise AccessDeniedException(
                f"User: {principal['session_arn']} is not authorized to perform: {ACTION} on resource: "
                f"{secret_id} because no identity-based policy allows the {ACTION} action")
    return _original_describe_secret(self)


def install() -> None:
    SecretsManagerResponse.describe_secret = describe_secret
