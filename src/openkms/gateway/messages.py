"""The instance gateway's protobuf messages, built at import from one table.

The field names and numbers are the wire contract of the instance SDK (`dkms-gcs` API version
`dkms-gcs-0.2`, proto3, package ``protobuf``): a request body is the action's ``<Action>Request``
message, a success body its ``<Action>Response``, and an error body ``Error``. Building the
descriptors here keeps the schema in one readable table and needs no code generation step.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

STR, BYTES, INT, BOOL = "string", "bytes", "int32", "bool"
REPEATED = "repeated string"

# message -> ((field, type), ...): field numbers are positions from 1, as the SDK's schema has them.
SCHEMA: dict[str, tuple[tuple[str, str], ...]] = {
    "Error": (("StatusCode", INT), ("ErrorCode", STR), ("ErrorMessage", STR), ("RequestId", STR)),
    "EncryptRequest": (
        ("KeyId", STR),
        ("Plaintext", BYTES),
        ("Algorithm", STR),
        ("Aad", BYTES),
        ("Iv", BYTES),
        ("PaddingMode", STR),
    ),
    "EncryptResponse": (
        ("KeyId", STR),
        ("CiphertextBlob", BYTES),
        ("Iv", BYTES),
        ("RequestId", STR),
        ("Algorithm", STR),
        ("PaddingMode", STR),
    ),
    "DecryptRequest": (
        ("CiphertextBlob", BYTES),
        ("KeyId", STR),
        ("Algorithm", STR),
        ("Aad", BYTES),
        ("Iv", BYTES),
        ("PaddingMode", STR),
    ),
    "DecryptResponse": (
        ("KeyId", STR),
        ("Plaintext", BYTES),
        ("RequestId", STR),
        ("Algorithm", STR),
        ("PaddingMode", STR),
    ),
    "SignRequest": (
        ("KeyId", STR),
        ("Digest", BYTES),
        ("Algorithm", STR),
        ("Message", BYTES),
        ("MessageType", STR),
    ),
    "SignResponse": (
        ("KeyId", STR),
        ("Signature", BYTES),
        ("RequestId", STR),
        ("Algorithm", STR),
        ("MessageType", STR),
    ),
    "VerifyRequest": (
        ("KeyId", STR),
        ("Digest", BYTES),
        ("Signature", BYTES),
        ("Algorithm", STR),
        ("Message", BYTES),
        ("MessageType", STR),
    ),
    "VerifyResponse": (
        ("KeyId", STR),
        ("Value", BOOL),
        ("RequestId", STR),
        ("Algorithm", STR),
        ("MessageType", STR),
    ),
    "GenerateRandomRequest": (("Length", INT),),
    "GenerateRandomResponse": (("Random", BYTES), ("RequestId", STR)),
    "GenerateDataKeyRequest": (("KeyId", STR), ("Algorithm", STR), ("NumberOfBytes", INT), ("Aad", BYTES)),
    "GenerateDataKeyResponse": (
        ("KeyId", STR),
        ("Iv", BYTES),
        ("Plaintext", BYTES),
        ("CiphertextBlob", BYTES),
        ("RequestId", STR),
        ("Algorithm", STR),
    ),
    "GetPublicKeyRequest": (("KeyId", STR),),
    "GetPublicKeyResponse": (("KeyId", STR), ("PublicKey", STR), ("RequestId", STR)),
    "GetSecretValueRequest": (
        ("SecretName", STR),
        ("VersionStage", STR),
        ("VersionId", STR),
        ("FetchExtendedConfig", BOOL),
    ),
    "GetSecretValueResponse": (
        ("SecretName", STR),
        ("SecretType", STR),
        ("SecretData", STR),
        ("SecretDataType", STR),
        ("VersionStages", REPEATED),
        ("VersionId", STR),
        ("CreateTime", STR),
        ("RequestId", STR),
        ("LastRotationDate", STR),
        ("NextRotationDate", STR),
        ("ExtendedConfig", STR),
        ("AutomaticRotation", STR),
        ("RotationInterval", STR),
    ),
    "AdvanceEncryptRequest": (
        ("KeyId", STR),
        ("Plaintext", BYTES),
        ("Algorithm", STR),
        ("Aad", BYTES),
        ("Iv", BYTES),
        ("PaddingMode", STR),
    ),
    "AdvanceEncryptResponse": (
        ("KeyId", STR),
        ("CiphertextBlob", BYTES),
        ("Iv", BYTES),
        ("RequestId", STR),
        ("Algorithm", STR),
        ("PaddingMode", STR),
        ("KeyVersionId", STR),
    ),
    "AdvanceDecryptRequest": (
        ("CiphertextBlob", BYTES),
        ("KeyId", STR),
        ("Algorithm", STR),
        ("Aad", BYTES),
        ("Iv", BYTES),
        ("PaddingMode", STR),
    ),
    "AdvanceDecryptResponse": (
        ("KeyId", STR),
        ("Plaintext", BYTES),
        ("RequestId", STR),
        ("Algorithm", STR),
        ("PaddingMode", STR),
        ("KeyVersionId", STR),
    ),
    "AdvanceGenerateDataKeyRequest": (("KeyId", STR), ("NumberOfBytes", INT), ("Aad", BYTES)),
    "AdvanceGenerateDataKeyResponse": (
        ("KeyId", STR),
        ("Iv", BYTES),
        ("Plaintext", BYTES),
        ("CiphertextBlob", BYTES),
        ("RequestId", STR),
        ("Algorithm", STR),
        ("KeyVersionId", STR),
    ),
    "GenerateDataKeyPairRequest": (
        ("KeyId", STR),
        ("Algorithm", STR),
        ("KeyPairSpec", STR),
        ("KeyFormat", STR),
        ("Aad", BYTES),
    ),
    "GenerateDataKeyPairResponse": (
        ("KeyId", STR),
        ("Iv", BYTES),
        ("KeyPairSpec", STR),
        ("PrivateKeyPlaintext", BYTES),
        ("PrivateKeyCiphertextBlob", BYTES),
        ("PublicKey", BYTES),
        ("RequestId", STR),
        ("Algorithm", STR),
    ),
    "GenerateDataKeyPairWithoutPlaintextRequest": (
        ("KeyId", STR),
        ("Algorithm", STR),
        ("KeyPairSpec", STR),
        ("KeyFormat", STR),
        ("Aad", BYTES),
    ),
    "GenerateDataKeyPairWithoutPlaintextResponse": (
        ("KeyId", STR),
        ("Iv", BYTES),
        ("KeyPairSpec", STR),
        ("PrivateKeyCiphertextBlob", BYTES),
        ("PublicKey", BYTES),
        ("RequestId", STR),
        ("Algorithm", STR),
    ),
    "AdvanceGenerateDataKeyPairRequest": (
        ("KeyId", STR),
        ("KeyPairSpec", STR),
        ("KeyFormat", STR),
        ("Aad", BYTES),
    ),
    "AdvanceGenerateDataKeyPairResponse": (
        ("KeyId", STR),
        ("Iv", BYTES),
        ("KeyPairSpec", STR),
        ("PrivateKeyPlaintext", BYTES),
        ("PrivateKeyCiphertextBlob", BYTES),
        ("PublicKey", BYTES),
        ("RequestId", STR),
        ("Algorithm", STR),
        ("KeyVersionId", STR),
    ),
    "AdvanceGenerateDataKeyPairWithoutPlaintextRequest": (
        ("KeyId", STR),
        ("KeyPairSpec", STR),
        ("KeyFormat", STR),
        ("Aad", BYTES),
    ),
    "AdvanceGenerateDataKeyPairWithoutPlaintextResponse": (
        ("KeyId", STR),
        ("Iv", BYTES),
        ("KeyPairSpec", STR),
        ("PrivateKeyCiphertextBlob", BYTES),
        ("PublicKey", BYTES),
        ("RequestId", STR),
        ("Algorithm", STR),
        ("KeyVersionId", STR),
    ),
}

_F = descriptor_pb2.FieldDescriptorProto
_TYPES = {
    STR: _F.TYPE_STRING,
    BYTES: _F.TYPE_BYTES,
    INT: _F.TYPE_INT32,
    BOOL: _F.TYPE_BOOL,
    REPEATED: _F.TYPE_STRING,
}


def _build() -> dict[str, Any]:
    proto = descriptor_pb2.FileDescriptorProto(
        name="openkms/gateway.proto", package="protobuf", syntax="proto3"
    )
    for name, fields in SCHEMA.items():
        message = proto.message_type.add(name=name)
        for number, (field, kind) in enumerate(fields, start=1):
            message.field.add(
                name=field,
                json_name=field,
                number=number,
                type=_TYPES[kind],
                label=_F.LABEL_REPEATED if kind == REPEATED else _F.LABEL_OPTIONAL,
            )
    # A pool of our own: the package name is the SDK's, and must not clash in the default pool.
    pool = descriptor_pool.DescriptorPool()
    file = pool.Add(proto)
    return {name: message_factory.GetMessageClass(file.message_types_by_name[name]) for name in SCHEMA}


MESSAGES: dict[str, Any] = _build()


def parse(name: str, body: bytes) -> Any:
    """The ``name`` message decoded from ``body``; raises google.protobuf's DecodeError."""
    message = MESSAGES[name]()
    message.ParseFromString(body)
    return message


def encode(name: str, **values: Any) -> bytes:
    """The ``name`` message with ``values`` (None left unset), serialized."""
    message = MESSAGES[name]()
    for field, value in values.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            getattr(message, field).extend(value)
        else:
            setattr(message, field, value)
    return bytes(message.SerializeToString())
