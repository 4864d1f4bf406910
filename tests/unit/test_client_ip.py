from __future__ import annotations

import pytest

from runtime.client_ip import client_ip, parse_networks
from runtime.settings import Settings, SettingsError

PROXIES = parse_networks("10.0.0.0/8, 127.0.0.1")


def test_untrusted_peer_cannot_forge_its_address() -> None:
    assert client_ip("203.0.113.9", "1.2.3.4", PROXIES) == "203.0.113.9"


def test_trusted_proxy_gives_the_client() -> None:
    assert client_ip("127.0.0.1", "198.51.100.7", PROXIES) == "198.51.100.7"


def test_hops_are_read_right_to_left_skipping_trusted_ones() -> None:
    forwarded = "6.6.6.6, 198.51.100.7, 10.1.2.3"  # the client may prepend anything
    assert client_ip("127.0.0.1", forwarded, PROXIES) == "198.51.100.7"


def test_only_trusted_hops_give_the_leftmost() -> None:
    assert client_ip("127.0.0.1", "10.0.0.5, 10.0.0.6", PROXIES) == "10.0.0.5"


def test_no_header_is_the_peer() -> None:
    assert client_ip("127.0.0.1", None, PROXIES) == "127.0.0.1"


def test_setting_is_parsed_and_checked() -> None:
    settings = Settings.from_environ({"WTHOST_TRUSTED_PROXIES": "10.0.0.0/8,::1"})
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(SettingsError, match="'nope' is not an IP address"):
        Settings.from_environ({"WTHOST_TRUSTED_PROXIES": "nope"})
