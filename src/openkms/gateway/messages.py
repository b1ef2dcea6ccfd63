"""The instance gateway's protobuf messages, built at import from one table.

The field names and numbers are the wire contract of the instance SDK (`dkms-gcs` API version
`dkms-gcs-0.2`, proto3, package ``protobuf``): a request body is the action's ``<Action>Request``
message, a success body its ``<Action>Response``, and an error body ``Error``. Building the
descriptors here keeps the schema in one readable table and needs no code generation step.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

S, B, I, T = "string", "bytes", "int32", "bool"
REPEATED = "repeated string"

# message -> ((field, type), ...): field numbers are positions from 1, as the SDK's schema has them.
SCHEMA: dict[str, tuple[tuple[str, str], ...]] = {
    "Error": (("StatusCode", I), ("ErrorCode", S), ("ErrorMessage", S), ("RequestId", S)),
    "EncryptRequest": (
        ("KeyId", S), ("Plaintext", B), ("Algorithm", S), ("Aad", B), ("Iv", B), ("PaddingMode", S),
    ),
    "EncryptResponse": (
        ("KeyId", S), ("CiphertextBlob", B), ("Iv", B), ("RequestId", S), ("Algorithm", S), ("PaddingMode", S),
    ),
    "DecryptRequest": (
        ("CiphertextBlob", B), ("KeyId", S), ("Algorithm", S), ("Aad", B), ("Iv", B), ("PaddingMode", S),
    ),
    "DecryptResponse": (
        ("KeyId", S), ("Plaintext", B), ("RequestId", S), ("Algorithm", S), ("PaddingMode", S),
    ),
    "SignRequest": (("KeyId", S), ("Digest", B), ("Algorithm", S), ("Message", B), ("MessageType", S)),
    "SignResponse": (("KeyId", S), ("Signature", B), ("RequestId", S), ("Algorithm", S), ("MessageType", S)),
    "VerifyRequest": (
        ("KeyId", S), ("Digest", B), ("Signature", B), ("Algorithm", S), ("Message", B), ("MessageType", S),
    ),
    "VerifyResponse": (("KeyId", S), ("Value", T), ("RequestId", S), ("Algorithm", S), ("MessageType", S)),
    "GenerateRandomRequest": (("Length", I),),
    "GenerateRandomResponse": (("Random", B), ("RequestId", S)),
    "GenerateDataKeyRequest": (("KeyId", S), ("Algorithm", S), ("NumberOfBytes", I), ("Aad", B)),
    "GenerateDataKeyResponse": (
        ("KeyId", S), ("Iv", B), ("Plaintext", B), ("CiphertextBlob", B), ("RequestId", S), ("Algorithm", S),
    ),
    "GetPublicKeyRequest": (("KeyId", S),),
    "GetPublicKeyResponse": (("KeyId", S), ("PublicKey", S), ("RequestId", S)),
    "GetSecretValueRequest": (
        ("SecretName", S), ("VersionStage", S), ("VersionId", S), ("FetchExtendedConfig", T),
    ),
    "GetSecretValueResponse": (
        ("SecretName", S), ("SecretType", S), ("SecretData", S), ("SecretDataType", S),
        ("VersionStages", REPEATED), ("VersionId", S), ("CreateTime", S), ("RequestId", S),
        ("LastRotationDate", S), ("NextRotationDate", S), ("ExtendedConfig", S),
        ("AutomaticRotation", S), ("RotationInterval", S),
    ),
    "AdvanceEncryptRequest": (
        ("KeyId", S), ("Plaintext", B), ("Algorithm", S), ("Aad", B), ("Iv", B), ("PaddingMode", S),
    ),
    "AdvanceEncryptResponse": (
        ("KeyId", S), ("CiphertextBlob", B), ("Iv", B), ("RequestId", S), ("Algorithm", S),
        ("PaddingMode", S), ("KeyVersionId", S),
    ),
    "AdvanceDecryptRequest": (
        ("CiphertextBlob", B), ("KeyId", S), ("Algorithm", S), ("Aad", B), ("Iv", B), ("PaddingMode", S),
    ),
    "AdvanceDecryptResponse": (
        ("KeyId", S), ("Plaintext", B), ("RequestId", S), ("Algorithm", S), ("PaddingMode", S), ("KeyVersionId", S),
    ),
    "AdvanceGenerateDataKeyRequest": (("KeyId", S), ("NumberOfBytes", I), ("Aad", B)),
    "AdvanceGenerateDataKeyResponse": (
        ("KeyId", S), ("Iv", B), ("Plaintext", B), ("CiphertextBlob", B), ("RequestId", S), ("Algorithm", S),
        ("KeyVersionId", S),
    ),
    "GenerateDataKeyPairRequest": (
        ("KeyId", S), ("Algorithm", S), ("KeyPairSpec", S), ("KeyFormat", S), ("Aad", B),
    ),
    "GenerateDataKeyPairResponse": (
        ("KeyId", S), ("Iv", B), ("KeyPairSpec", S), ("PrivateKeyPlaintext", B),
        ("PrivateKeyCiphertextBlob", B), ("PublicKey", B), ("RequestId", S), ("Algorithm", S),
    ),
    "GenerateDataKeyPairWithoutPlaintextRequest": (
        ("KeyId", S), ("Algorithm", S), ("KeyPairSpec", S), ("KeyFormat", S), ("Aad", B),
    ),
    "GenerateDataKeyPairWithoutPlaintextResponse": (
        ("KeyId", S), ("Iv", B), ("KeyPairSpec", S), ("PrivateKeyCiphertextBlob", B), ("PublicKey", B),
        ("RequestId", S), ("Algorithm", S),
    ),
    "AdvanceGenerateDataKeyPairRequest": (("KeyId", S), ("KeyPairSpec", S), ("KeyFormat", S), ("Aad", B)),
    "AdvanceGenerateDataKeyPairResponse": (
        ("KeyId", S), ("Iv", B), ("KeyPairSpec", S), ("PrivateKeyPlaintext", B),
        ("PrivateKeyCiphertextBlob", B), ("PublicKey", B), ("RequestId", S), ("Algorithm", S),
        ("KeyVersionId", S),
    ),
    "AdvanceGenerateDataKeyPairWithoutPlaintextRequest": (
        ("KeyId", S), ("KeyPairSpec", S), ("KeyFormat", S), ("Aad", B),
    ),
    "AdvanceGenerateDataKeyPairWithoutPlaintextResponse": (
        ("KeyId", S), ("Iv", B), ("KeyPairSpec", S), ("PrivateKeyCiphertextBlob", B), ("PublicKey", B),
        ("RequestId", S), ("Algorithm", S), ("KeyVersionId", S),
    ),
}

_F = descriptor_pb2.FieldDescriptorProto
_TYPES = {
    S: _F.TYPE_STRING,
    B: _F.TYPE_BYTES,
    I: _F.TYPE_INT32,
    T: _F.TYPE_BOOL,
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
