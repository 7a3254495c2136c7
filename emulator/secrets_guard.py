"""Secrets Manager behaviours moto 5.2 gets wrong or leaves out (botocore's
secretsmanager/2017-10-17 model is the reference for each).

- CreateSecret on a name scheduled for deletion: InvalidRequestException (moto
  answers ResourceExistsException).
- DeleteSecret with ForceDeleteWithoutRecovery is asynchronous on AWS ("there
  might be a short delay before the secret is permanently deleted"): for
  `PTC_FORCE_DELETE_DELAY_MS` (default 0) after one, CreateSecret of that name
  answers InvalidRequestException. DescribeSecret already answers
  ResourceNotFoundException (moto drops the secret at once). moto already lets a
  forced deletion purge a secret that is scheduled for deletion.
- UpdateSecretVersionStage moving AWSCURRENT: moto moves the label but keeps
  serving the old version from GetSecretValue (its default_version_id); fixed
  here so the value follows the label.
- DescribeSecret omits KmsKeyId for the default key aws/secretsmanager ("If the
  secret is encrypted with the Amazon Web Services managed key
  aws/secretsmanager, this field is omitted"); moto sends null.
"""

from moto.secretsmanager.exceptions import InvalidRequestException
from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend

from emustate import STATE

DEFAULT_KMS_ALIAS = SecretsManagerBackend.DEFAULT_KMS_KEY_ALIAS  # alias/aws/secretsmanager
NAME_TAKEN = "You can't create this secret because a secret with this name is already scheduled for deletion."

_original_create_secret = SecretsManagerBackend.create_secret
_original_delete_secret = SecretsManagerBackend.delete_secret
_original_update_secret_version_stage = SecretsManagerBackend.update_secret_version_stage
_original_to_dict = FakeSecret.to_dict


def customer_managed_key(secret) -> str | None:
    """The secret's KMS key when it is not the default aws/secretsmanager key (by alias or alias ARN)."""
    key = getattr(secret, "kms_key_id", None)
    if not key or key == DEFAULT_KMS_ALIAS or key.endswith(":" + DEFAULT_KMS_ALIAS):
        return None
    return key


def current_version_id(secret) -> str | None:
    """The version that holds AWSCURRENT (None for a secret without a value)."""
    for version_id, version in secret.versions.items():
        if "AWSCURRENT" in version.get("version_stages", []):
            return version_id
    return None


def create_secret(self, name, *args, **kwargs):
    existing = self.secrets.get(name) if isinstance(name, str) else None
    if (isinstance(existing, FakeSecret) and existing.is_deleted()) or STATE.is_purging(self.account_id, self.region_name, name):
        raise InvalidRequestException(NAME_TAKEN)
    return _original_create_secret(self, name, *args, **kwargs)


def delete_secret(self, secret_id, recovery_window_in_days, force_delete_without_recovery):
    existing = self.secrets.get(secret_id) if force_delete_without_recovery else None
    result = _original_delete_secret(self, secret_id, recovery_window_in_days, force_delete_without_recovery)
    if isinstance(existing, FakeSecret):
        STATE.start_purge(self.account_id, self.region_name, existing.name)
    return result


def update_secret_version_stage(self, secret_id, version_stage, remove_from_version_id, move_to_version_id):
    result = _original_update_secret_version_stage(self, secret_id, version_stage, remove_from_version_id,
                                                   move_to_version_id)
    if version_stage == "AWSCURRENT":
        secret = self.secrets[secret_id]
        secret.set_default_version_id(current_version_id(secret))
    return result


def to_dict(self) -> dict:
    out = _original_to_dict(self)
    if customer_managed_key(self) is None:
        out.pop("KmsKeyId", None)
    return out


def install() -> None:
    SecretsManagerBackend.create_secret = create_secret
    SecretsManagerBackend.delete_secret = delete_secret
    SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage
    FakeSecret.to_dict = to_dict
