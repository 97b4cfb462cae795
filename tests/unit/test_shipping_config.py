"""The [shipping] config section: env aliases, the key masked, ship-from checked at start-up."""

from __future__ import annotations

import pytest

from creatorflow.config import MASK, load_config, masked
from creatorflow.domain.shipping import Address, Parcel
from creatorflow.errors import ConfigError


def test_env_aliases_and_the_key_is_masked() -> None:
    config = load_config(
        environ={
            "CREATORFLOW_SHIPPING_BASE_URL": "http://127.0.0.1:5002",
            "CREATORFLOW_SHIPPING_API_KEY": "key_secret",
            "CREATORFLOW_SHIPPING__LABEL_TYPE": "ZPL",
        }
    )
    assert (config.shipping.base_url, config.shipping.api_key) == (
        "http://127.0.0.1:5002",
        "key_secret",
    )
    assert config.shipping.label_type == "ZPL"
    assert masked(config)["shipping"]["api_key"] == MASK


def test_defaults_give_a_ship_from_address_and_a_parcel() -> None:
    shipping = load_config(environ={}).shipping
    assert shipping.base_url == ""  # the built-in sandbox carriers
    assert shipping.ship_from() == Address(
        person_name="CreatorFlow Fulfillment",
        phone_number="+1 213 555 0100",
        address_line1="100 Demo Way",
        city="Los Angeles",
        state_code="CA",
        postal_code="90012",
        country_code="US",
    )
    assert shipping.default_parcel() == Parcel(
        weight_g=500, length_cm=20, width_cm=15, height_cm=10
    )


@pytest.mark.parametrize(
    ("environ", "needle"),
    [
        ({"CREATORFLOW_SHIPPING_BASE_URL": "karrio:5002"}, "shipping.base_url"),
        ({"CREATORFLOW_SHIPPING__LABEL_TYPE": "PNG"}, "shipping.label_type"),
        ({"CREATORFLOW_SHIPPING__SHIP_FROM_COUNTRY_CODE": "usa"}, "ship_from_country_code"),
        ({"CREATORFLOW_SHIPPING__SHIP_FROM_NAME": "n" * 101}, "ship_from_name"),
        ({"CREATORFLOW_SHIPPING__SHIP_FROM_COMPANY": "c" * 101}, "ship_from_company"),
        ({"CREATORFLOW_SHIPPING__SHIP_FROM_LINE1": "l" * 101}, "ship_from_line1"),
        ({"CREATORFLOW_SHIPPING__DEFAULT_PARCEL_WEIGHT_G": "0"}, "default_parcel_weight_g"),
        ({"CREATORFLOW_SHIPPING__TIMEOUT_S": "0"}, "shipping.timeout_s"),
    ],
)
def test_bad_values_stop_start_up_naming_the_key(environ: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        load_config(environ=environ)
    assert "\n" not in str(info.value)
