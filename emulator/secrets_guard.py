"""Secrets Manager behaviours moto 5.2 gets wrong or leaves out (botocore's
secretsmanager/2017-10-17 model is the reference for each).

- CreateSecret on a name scheduled for deletion: InvalidRequestException (moto
  answers ResourceExistsException).
- DeleteSecret with ForceDeleteWithoutRecovery is asynchronous on AWS ("there
  might be a short delay before the secret is permanently deleted"): for
  `PTC_FORCE_DELETE_DELAY_MS` (default 0) after one, CreateSecret of that name
  answers InvalidRequestException. DescribeSecret already answers
  ResourceNotFoundException (moto drops the secret at once), unless the delay was set
  with `"visible": true`: then DescribeSecret still shows the secret with its
  DeletedDate meanwhile ("may still show DeletedDate"), and RestoreSecret of it answers
  InvalidRequestException (the model's error for "not valid for the current state of the
  resource"). moto already lets a forced deletion purge a secret that is scheduled for
  deletion.
- DescribeSecret under identity policies: secrets_access.py.
- UpdateSecretVersionStage moving AWSCURRENT: moto moves the label but keeps
  serving the old version from GetSecretValue (its default_version_id); fixed
  here so the value follows the label.
- DescribeSecret omits KmsKeyId for the default key aws/secretsmanager ("If the
  secret is encrypted with the Amazon Web Services managed key
  aws/secretsmanager, this field is omitted"); moto sends null.
"""

import threading
import time

from moto.secretsmanager.exceptions import InvalidRequestException, SecretNotFoundException
from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend

import secrets_access
from emustate import STATE

DEFAULT_KMS_ALIAS = SecretsManagerBackend.DEFAULT_KMS_KEY_ALIAS  # alias/aws/secretsmanager
NAME_TAKEN = "You can't create this secret because a secret with this name is already scheduled for deletion."
BEING_PURGED = "You can't perform this operation on the secret because it was deleted."

_original_create_secret = SecretsManagerBackend.create_secret
_original_describe_secret = SecretsManagerBackend.describe_secret
_original_restore_secret = SecretsManagerBackend.restore_secret
_original_delete_secret = SecretsManagerBackend.delete_secret
_original_update_secret_version_stage = SecretsManagerBackend.update_secret_version_stage
_original_to_dict = FakeSecret.to_dict

# Forced deletions still being carried out that DescribeSecret still shows (`"visible": true`):
# (account, region, name) -> the secret as it was, with its DeletedDate.
_lock = threading.Lock()
_visible = False
_being_purged: dict[tuple[str, str, str], FakeSecret] = {}


def set_visible_while_purging(visible: bool) -> None:
    global _visible
    with _lock:
        _visible = visible
        _being_purged.clear()


def visible_while_purging() -> bool:
    with _lock:
        return _visible


def _purging_secret(backend, secret_id) -> FakeSecret | None:
    """The secret of this name or ARN whose forced deletion is still under way, if shown."""
    with _lock:
        for key, secret in list(_being_purged.items()):
            if not STATE.is_purging(*key):
                del _being_purged[key]
            elif key[:2] == (backend.account_id, backend.region_name) and secret_id in (secret.name, secret.arn):
                return secret
    return None


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
        key = (self.account_id, self.region_name, existing.name)
        with _lock:
            if _visible and STATE.is_purging(*key):
                existing.delete(time.time())
                _being_purged[key] = existing
    return result


def describe_secret(self, secret_id):
    try:
        return _original_describe_secret(self, secret_id)
    except SecretNotFoundException:
        purging = _purging_secret(self, secret_id)
        if purging is None:
            raise
        return purging


def restore_secret(self, secret_id):
    if not self._is_valid_identifier(secret_id) and _purging_secret(self, secret_id) is not None:
        raise InvalidRequestException(BEING_PURGED)
    return _original_restore_secret(self, secret_id)


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
    SecretsManagerBackend.describe_secret = describe_secret
    SecretsManagerBackend.restore_secret = restore_secret
    secrets_access.install()
    SecretsManagerBackend.delete_secret = delete_secret
    SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage
    FakeSecret.to_dict = to_dict
