"""Pure rules of the web side, tested directly and property-based: which Host headers
are the box's (hosts.py), CSV cells that cannot run as formulas (csv_cells.py), and
the insecure choices named at start-up (insecure.py)."""

from __future__ import annotations

import logging

from hypothesis import given, settings
from hypothesis import strategies as st

from evedge.config import Config
from evedge.domain.csv_cells import FORMULA_START, neutralise, restore
from evedge.domain.hosts import AllowedHosts, is_ip_address, own_host_names, parse_host
from evedge.insecure import config_checks, warn_insecure

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
TOP = st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)  # never an IP address
NAMES = st.tuples(st.lists(LABEL, max_size=3), TOP).map(lambda n: ".".join([*n[0], n[1]]))
PORTS = st.one_of(st.just(""), st.integers(min_value=0, max_value=65535).map(lambda p: f":{p}"))


def case_mix(name: str, flips: list[bool]) -> str:
    return "".join(c.upper() if flip else c for c, flip in zip(name, flips + [False] * 99))


@settings(max_examples=300, deadline=None)
@given(NAMES, NAMES, PORTS, st.lists(st.booleans(), max_size=40), st.booleans())
def test_a_name_is_allowed_exactly_when_it_is_listed(listed, other, port, flips, dot):
    hosts = AllowedHosts([listed], own=["gateway"])
    header = case_mix(listed, flips) + ("." if dot else "") + port
    assert hosts.allows(header)  # any case, any port, a trailing dot
    assert hosts.allows(other + port) == (other in (listed, "gateway", "localhost"))
    assert not is_ip_address(other)


@settings(max_examples=300, deadline=None)
@given(st.ip_addresses(), PORTS)
def test_ip_addresses_are_always_allowed(address, port):
    hosts = AllowedHosts()
    text = f"[{address}]" if address.version == 6 else str(address)
    assert hosts.allows(text + port)
    if address.version == 6:
        assert not hosts.allows(str(address))  # without brackets it is no Host header


@settings(max_examples=200, deadline=None)
@given(NAMES, NAMES)
def test_a_leading_dot_allows_the_domain_and_its_subdomains_only(domain, sub):
    hosts = AllowedHosts(["." + domain])
    assert hosts.allows(domain) and hosts.allows(f"{sub}.{domain}:443")
    assert not hosts.allows(f"{sub}{domain}") or f"{sub}{domain}" == domain
    assert not hosts.allows(f"{domain}.{sub}") or f"{domain}.{sub}".endswith("." + domain)


def test_malformed_headers_and_the_wildcard():
    hosts = AllowedHosts(["box"])
    for header in ("", ":8000", "box:http", "box:80:80", "[::1", "[::1]x", "[box]", "::1",
                   "box/../x", "box@evil"):
        assert not hosts.allows(header), header
    assert parse_host("[::1]:80") == ("::1", True) and parse_host("Box.:1") == ("box", False)
    assert AllowedHosts(["*"]).allows("anything.example:1")


def test_own_names_include_the_host_name_and_its_mdns_name():
    import socket

    names = own_host_names()
    short = socket.gethostname().split(".")[0].lower()
    assert short in names and f"{short}.local" in names


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("'=+-@\t\rab, \"") | st.characters(), max_size=12))
def test_neutralise_is_undone_by_restore_and_leaves_no_formula(cell):
    safe = neutralise(cell)
    assert restore(safe) == cell
    assert not safe or safe[0] not in FORMULA_START
    if not cell or cell.lstrip("'")[:1] not in tuple(FORMULA_START):
        assert safe == cell  # cells that are no formula are left as they are


def test_neutralise_examples():
    assert neutralise("=1+1") == "'=1+1" and neutralise("-5") == "'-5"
    assert neutralise("'=x") == "''=x" and neutralise("'x") == "'x"
    assert restore("'@SUM(A1)") == "@SUM(A1)" and restore("'x") == "'x"


def test_insecure_choices_each_name_their_setting(caplog):
    lax = Config(registration="open", unknown_id_tags="accept", admission="accept",
                 allowed_hosts="*")
    with caplog.at_level(logging.WARNING, logger="evedge.test"):
        messages = warn_insecure(config_checks(lax), logging.getLogger("evedge.test"))
    for setting in ("tls_cert", "registration = open", "unknown_id_tags = accept",
                    "admission = accept", "allowed_hosts = *"):
        assert sum(setting in m for m in messages) == 1, setting
    assert len(caplog.records) == len(messages) == 5
    assert all(r.getMessage().startswith("insecure: ") for r in caplog.records)
    strict = Config(tls_cert="c.pem", tls_key="k.pem", admission="pending")
    assert warn_insecure(config_checks(strict), logging.getLogger("evedge.test")) == []
    extra = [(True, "charger CP-1 has no password")]
    assert warn_insecure(config_checks(strict) + extra, logging.getLogger("x")) == \
        ["charger CP-1 has no password"]
