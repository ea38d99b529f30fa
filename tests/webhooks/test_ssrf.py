import pytest

from portal.lib import ssrf

BLOCKED = [
    "http://127.0.0.1/",
    "http://127.8.9.10:8080/x",
    "http://localhost/",
    "http://api.localhost/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://100.127.255.254/",
    "http://169.254.1.1/",  # link-local
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://0.0.0.0/",
    "http://0/",
    "http://224.0.0.1/",  # multicast
    "http://255.255.255.255/",
    "http://2130706433/",  # 127.0.0.1 in decimal
    "http://0x7f000001/",  # in hex
    "http://0x7f.0.0.1/",
    "http://0177.0.0.1/",  # in octal
    "http://127.1/",  # short form
    "http://3232235777/",  # 192.168.1.1 in decimal
    "http://0xa9fea9fe/",  # 169.254.169.254 in hex
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:a9fe:a9fe]/",  # IPv4-mapped metadata
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
    "http://[ff02::1]/",
    "http://[64:ff9b::7f00:1]/",  # NAT64
]

REFUSED_SHAPES = [
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://example.com/",
    "javascript:alert(1)",
    "http://user:pass@example.com/",
    "http:///nohost",
    "http://exa mple.com/",
    "",
    "http://[fe80::1%25eth0]/",
]


@pytest.mark.parametrize("url", BLOCKED)
def test_it_refuses_non_public_addresses(url):
    with pytest.raises(ssrf.BlockedURL):
        ssrf.resolve(url, allow_private=False, resolver=lambda host, port: ["93.184.216.34"])


@pytest.mark.parametrize("url", REFUSED_SHAPES)
def test_it_refuses_bad_schemes_and_shapes(url):
    with pytest.raises(ssrf.BlockedURL):
        ssrf.check_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    ["https://example.com/hook", "http://example.com:8080/a?b=c", "https://93.184.216.34/", "https://[2606:4700::1]/"],
)
def test_it_accepts_public_urls(url):
    target = ssrf.resolve(url, allow_private=False, resolver=lambda host, port: ["93.184.216.34"])
    assert target.address in {"93.184.216.34", "2606:4700::1"}


def test_a_hostname_that_resolves_to_a_private_address_is_refused():
    with pytest.raises(ssrf.BlockedURL, match="resolves to a private"):
        ssrf.resolve("https://internal.example.com/", allow_private=False, resolver=lambda h, p: ["10.1.2.3"])


def test_a_hostname_with_one_private_answer_among_public_ones_is_refused():
    answers = ["93.184.216.34", "192.168.0.10"]
    with pytest.raises(ssrf.BlockedURL):
        ssrf.resolve("https://rebind.example.com/", allow_private=False, resolver=lambda h, p: answers)


def test_the_target_keeps_the_checked_address_and_the_host_name():
    target = ssrf.resolve("https://hooks.example.com/in?x=1", allow_private=False, resolver=lambda h, p: ["8.8.8.8"])
    assert (target.host, target.address, target.port, target.path) == ("hooks.example.com", "8.8.8.8", 443, "/in?x=1")


def test_a_name_that_does_not_resolve_is_a_dns_failure():
    def fail(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(ssrf.BlockedURL) as info:
        ssrf.resolve("https://nx.example.com/", allow_private=False, resolver=fail)
    assert info.value.reason == "dns"


def test_private_addresses_pass_only_with_the_development_setting_and_metadata_never():
    ssrf.resolve("http://127.0.0.1:9/", allow_private=True)
    ssrf.resolve("http://10.0.0.1/", allow_private=True)
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://[::ffff:127.0.0.1]/"):
        with pytest.raises(ssrf.BlockedURL):
            ssrf.resolve(url, allow_private=True)


def test_live_endpoints_must_use_https():
    with pytest.raises(ssrf.BlockedURL, match="https"):
        ssrf.check_url("http://example.com/", allow_private=False, require_https=True)
    ssrf.check_url("https://example.com/", allow_private=False, require_https=True)


def test_numeric_forms_parse_like_inet_aton():
    assert str(ssrf.parse_numeric_ipv4("2130706433")) == "127.0.0.1"
    assert str(ssrf.parse_numeric_ipv4("0x7f.1")) == "127.0.0.1"
    assert str(ssrf.parse_numeric_ipv4("0177.0.0.01")) == "127.0.0.1"
    assert str(ssrf.parse_numeric_ipv4("10.1")) == "10.0.0.1"
    assert ssrf.parse_numeric_ipv4("example.com") is None
    assert ssrf.parse_numeric_ipv4("256.1.1.1") is None
