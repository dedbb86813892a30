"""Temporal wiring: queue names, search attributes, the encrypted data converter, clients.

Workflows never import this module (it pulls in settings-free but I/O-capable code); they
import `orchestrator.contracts` and `orchestrator.queues` only.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Sequence
from datetime import timedelta

import temporalio.api.common.v1
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)
from temporalio.envconfig import ClientConfig
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.queues import SEARCH_ATTRIBUTES
from orchestrator.security.keys import Keyring

log = logging.getLogger(__name__)

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole payload; the key id travels in metadata so keys can rotate.

    Payloads that are not encrypted (written before encryption was enabled) pass through.
    """

    def __init__(self, keyring: Keyring) -> None:
        self._primary = keyring.primary
        self._ciphers = {kid: AESGCM(key) for kid, key in keyring.keys.items()}

    async def encode(
        self, payloads: Sequence[temporalio.api.common.v1.Payload]
    ) -> list[temporalio.api.common.v1.Payload]:
        out = []
        cipher = self._ciphers[self._primary]
        kid = self._primary.encode()
        for p in payloads:
            nonce = os.urandom(12)
            data = nonce + cipher.encrypt(nonce, p.SerializeToString(), kid)
            out.append(
                temporalio.api.common.v1.Payload(
                    metadata={"encoding": ENCODING, KEY_ID: kid}, data=data
                )
            )
        return out

    async def decode(
        self, payloads: Sequence[temporalio.api.common.v1.Payload]
    ) -> list[temporalio.api.common.v1.Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding", b"") != ENCODING:
                out.append(p)
                continue
            kid = p.metadata.get(KEY_ID, b"")
            cipher = self._ciphers.get(kid.decode())
            if cipher is None:
                raise ValueError(f"payload encrypted with unknown key id {kid.decode()!r}")
            plain = cipher.decrypt(p.data[:12], p.data[12:], kid)
            out.append(temporalio.api.common.v1.Payload.FromString(plain))
        return out


def data_converter(payload_keyring: Keyring | None) -> DataConverter:
    """Pydantic converter, encrypted payloads, encrypted failure messages and stack traces."""
    if payload_keyring is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(payload_keyring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(
    address: str,
    namespace: str,
    payload_keyring: Keyring | None,
    *,
    identity: str | None = None,
) -> Client:
    """A client with the standard `TEMPORAL_*` TLS/API-key variables honoured for clusters."""
    config = ClientConfig.load_client_connect_config()
    config["target_host"] = address
    config["namespace"] = namespace
    kwargs: dict[str, object] = {}
    if identity:
        kwargs["identity"] = identity
    return await Client.connect(
        **config,  # type: ignore[arg-type]
        data_converter=data_converter(payload_keyring),
        **kwargs,  # type: ignore[arg-type]
    )


async def ensure_namespace(client: Client, namespace: str, retention_days: int = 30) -> bool:
    """Create the namespace on an external cluster if missing; True when it was created."""
    svc = client.workflow_service
    try:
        await svc.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
        return False
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise
    try:
        await svc.register_namespace(
            RegisterNamespaceRequest(
                namespace=namespace,
                workflow_execution_retention_period=Duration(seconds=retention_days * 86400),
            )
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise
        return False
    log.info("Created Temporal namespace %s with %d days of retention.", namespace, retention_days)
    return True


async def ensure_search_attributes(
    client: Client, namespace: str, names: Iterable[str] = SEARCH_ATTRIBUTES
) -> list[str]:
    """Register the Keyword search attributes the dashboard and Temporal UI filter on."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = [n for n in names if n not in existing.custom_attributes]
    except RPCError as exc:  # e.g. the time-skipping test server cannot list, only add
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        missing = list(names)
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=namespace,
                    search_attributes={
                        n: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for n in missing
                    },
                )
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
        log.info("Registered search attributes %s.", ", ".join(missing))
    return missing


async def check_health(client: Client, timeout: timedelta = timedelta(seconds=2)) -> None:
    """Raise when the frontend does not answer a health check within `timeout`."""
    await client.service_client.check_health(timeout=timeout)


def workflow_ui_url(
    ui_base: str | None, namespace: str, workflow_id: str, run_id: str
) -> str | None:
    if not ui_base:
        return None
    return f"{ui_base}/namespaces/{namespace}/workflows/{workflow_id}/{run_id}/history"
