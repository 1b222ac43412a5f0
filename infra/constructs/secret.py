"""The anonymization key: a secret in its own scope that only the job's service principal may read.

Every pseudonym is a keyed function of the production value, so the key is what separates the anonymized
copy from re-identification.

Default (``secret.source: key-init``): Terraform declares the scope and its READ ACL for the service principal
and nothing else. The key is written once by ``anonymizer key init`` (Databricks SDK, 32 random bytes, base64)
after the first apply, so it never enters the Terraform state, a saved plan or the pull-request plan.

Opt-in, with ``secret.key_in_state_acknowledged: true`` (the gate fails it otherwise, CKV_DBX_26): Terraform
generates the key (``generated``: ``random_password``, 64 characters of [A-Za-z0-9], about 381 bits) or takes
it from the sensitive variable ``anonymization_key`` (``variable``: ``TF_VAR_anonymization_key``). Provider
1.99 has no write-only attributes, so the value then sits IN CLEAR TEXT in the state and in every saved plan:
whoever can read either can re-identify every pseudonym. The job decodes the secret as hex or base64
(``anonymizer.keys.decode_key_text``) and needs at least 32 bytes. Workspace admins can read every secret
scope: keep that group small in production.

Docs: https://registry.terraform.io/providers/databricks/databricks/latest/docs/resources/secret_scope
      https://registry.terraform.io/providers/databricks/databricks/latest/docs/resources/secret
      https://registry.terraform.io/providers/databricks/databricks/latest/docs/resources/secret_acl
      https://registry.terraform.io/providers/hashicorp/random/latest/docs/resources/password
"""

from __future__ import annotations

from cdktf import TerraformVariable, TerraformVariableValidationConfig
from cdktf_cdktf_provider_databricks.secret import Secret
from cdktf_cdktf_provider_databricks.secret_acl import SecretAcl
from cdktf_cdktf_provider_databricks.secret_scope import SecretScope
from cdktf_cdktf_provider_random.password import Password
from constructs import Construct

from infra import settings

KEY_LENGTH = 64
KEY_VARIABLE = "anonymization_key"
# 32+ bytes as the job decodes them: 64+ hex digits, or 43+ base64 characters (44 with padding).
SUPPLIED_KEY_PATTERN = "^([0-9a-fA-F]{64,}|[A-Za-z0-9+/_-]{43,}={0,2})$"


class AnonymizationKey(Construct):
    """Secret scope, key and a READ ACL for the service principal (the deployer keeps MANAGE as creator)."""

    def __init__(self, scope: Construct, id: str, *, secret: settings.SecretSettings, service_principal: str) -> None:
        super().__init__(scope, id)
        self.scope = SecretScope(self, "scope", name=secret.scope)
        self.acl = SecretAcl(self, "reader", scope=self.scope.name, principal=service_principal, permission="READ")
        self.secret: Secret | None = None
        if not secret.key_in_state:
            return  # key-init (default): `anonymizer key init` writes the key; Terraform never sees it
        if secret.source == "generated":
            # special=false: an alphanumeric key needs no quoting or escaping wherever it is copied (a
            # break-glass export, an env var), and 64 characters of [A-Za-z0-9] still carry ~381 bits.
            # Bump `generation` in the config to rotate: the keeper forces a new value.
            password = Password(
                self,
                "value",
                length=KEY_LENGTH,
                special=False,
                min_lower=8,
                min_upper=8,
                min_numeric=8,
                keepers={"generation": str(secret.generation)},
            )
            value = password.result
        else:
            variable = TerraformVariable(
                self,
                KEY_VARIABLE,
                type="string",
                sensitive=True,
                nullable=False,
                description=(
                    "The anonymization key: at least 32 random bytes, hex or base64 encoded. "
                    "Set TF_VAR_anonymization_key from a secret manager; never commit it."
                ),
                validation=[
                    TerraformVariableValidationConfig(
                        condition=f'${{can(regex("{SUPPLIED_KEY_PATTERN}", var.{KEY_VARIABLE}))}}',
                        error_message=(
                            "The anonymization key must be at least 32 random bytes, hex (64+ digits) or "
                            "base64 (43+ characters) encoded, e.g. openssl rand -hex 32."
                        ),
                    )
                ],
            )
            variable.override_logical_id(KEY_VARIABLE)  # so that TF_VAR_anonymization_key sets it
            value = variable.string_value
        self.secret = Secret(self, "key", scope=self.scope.name, key=secret.key, string_value=value)
