"""KmsTokenVault: seals git access tokens so no token is ever stored in plain text.

AWS resources: the KMS key aliased Settings.names.token_key_alias. IAM: kms:Encrypt, kms:Decrypt.
"""

from __future__ import annotations

import base64
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws_errors import translate

_CONTEXT = {"purpose": "strata-git-token"}


class KmsTokenVault:
    def __init__(self, client: Any, key_id: str) -> None:
        self._kms = client
        self._key_id = key_id

    def seal(self, token: str) -> str:
        try:
            resp = self._kms.encrypt(
                KeyId=self._key_id, Plaintext=token.encode(), EncryptionContext=_CONTEXT
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "seal token") from exc
        return base64.b64encode(resp["CiphertextBlob"]).decode()

    def open(self, sealed: str) -> str:
        try:
            resp = self._kms.decrypt(
                CiphertextBlob=base64.b64decode(sealed), EncryptionContext=_CONTEXT
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "open token") from exc
        plaintext: bytes = resp["Plaintext"]
        return plaintext.decode()
