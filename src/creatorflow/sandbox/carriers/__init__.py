"""Sandbox carriers: three simulated carriers behind the Karrio REST v1 subset we use.

One Karrio adapter drives both this sandbox and a real Karrio 2026.1.32 server (the carrier
gateway contract tests run the same assertions against each). What it serves, and the admin
contract, are listed in ``_api`` and ``_admin``. Same as the real server, on purpose: a bought
shipment is ``created`` (``purchased_status = "purchased"`` mimics servers before 2026.1.19);
the label is in ``shipping_documents[].base64`` of the create / purchase answers (there is no
``docs`` on stateful shipments), reads give its URL; ``?request_id=`` is exact on
``meta.request_id``, which the purchase request's id replaces; ``?reference=`` is a
case-insensitive substring match; re-buying is 409 ``state_error``; a repeat cancel is 202;
cancel takes a shipment id or a request id. Deliberate differences:

* Trackers work and walk on a schedule (the real ``generic`` carrier cannot track at all);
  an admin endpoint moves them. Labels are small vector PDFs with a Code 128 barcode (Karrio
  renders a ~170 KB JPEG-in-PDF) or ZPL; ``PNG`` is refused (400).
* Faults (outage, error rate, timeouts that may still have bought the label, latency) are
  injected per carrier; a failed carrier looks like Karrio's ``SHIPPING_SDK_INTERNAL_ERROR``
  message. Ids and tracking numbers are deterministic given the seed.
* Not served: ``/v1/proxy/shipping`` and other proxy routes, ``/v1/shipments/{id}/rates``,
  ``PUT``, pickups, manifests, ``POST /v1/trackers``, connections, GraphQL; no
  ``X-test-mode`` header. An unknown GET/POST path is 404 (Django may say 405).

Modules: ``_config`` (settings, carriers, price tables), ``_wire`` (errors, ids, times),
``_validate`` (request bodies), ``_rates`` (zones, prices), ``_faults``, ``_labels`` (PDF,
ZPL, Code 128), ``_shipments`` (book, lookups, purchases log), ``_tracking`` (the walk),
``_operations`` (rate / create / purchase / void with faults), ``_webhooks``
(``tracker_updated`` pushes), ``_api`` and ``_admin`` (HTTP), ``_sandbox`` (the ASGI app).
"""

from creatorflow.sandbox.carriers._config import (
    DEFAULT_CARRIERS,
    DEFAULT_TRACKER_SCHEDULE_S,
    WEIGHT_BRACKETS_KG,
    CarrierFaultConfig,
    CarrierSandboxConfig,
    CarrierSpec,
    ServiceSpec,
)
from creatorflow.sandbox.carriers._labels import code128_values
from creatorflow.sandbox.carriers._rates import zone_of
from creatorflow.sandbox.carriers._sandbox import PREFIX, CarrierSandbox, open_carrier_sandbox
from creatorflow.sandbox.carriers._webhooks import DeliverFn

__all__ = [
    "DEFAULT_CARRIERS",
    "DEFAULT_TRACKER_SCHEDULE_S",
    "PREFIX",
    "WEIGHT_BRACKETS_KG",
    "CarrierFaultConfig",
    "CarrierSandbox",
    "CarrierSandboxConfig",
    "CarrierSpec",
    "DeliverFn",
    "ServiceSpec",
    "code128_values",
    "open_carrier_sandbox",
    "zone_of",
]
