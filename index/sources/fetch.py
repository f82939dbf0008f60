"""Fetch a page or feed over http(s), politely and safely.

- only ``http``/``https``; redirects followed one hop at a time, up to a limit, each hop checked again;
- every address a host resolves to must be public (no loopback, private, link-local or cloud-metadata
  addresses) unless it lies in an allowed network; the connection then goes to that checked address
  (the name is kept for ``Host`` and TLS), so a second DNS answer cannot redirect it (DNS rebinding);
- ``robots.txt`` is honoured for our User-Agent (fetched once per site);
- one timeout covers the whole fetch, body included, and the body is capped in bytes.
"""

from __future__ import annotations

import ipaddress
import socket
import time
import urllib.robotparser
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

USER_AGENT = "rag-news/0.1 (news question answering; honours robots.txt)"
ROBOTS_MAX_BYTES = 500_000


class FetchError(RuntimeError):
    """The URL could not be fetched; the message says why."""


@dataclass(frozen=True)
class FetchPolicy:
    timeout: float = 20.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    allow_networks: tuple[str, ...] = ()  # CIDR blocks of non-public addresses that may be fetched
    user_agent: str = USER_AGENT


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    content_type: str  # lower case, without parameters
    charset: str | None
    body: bytes


class Fetcher:
    """One per batch of URLs: keeps a connection pool and each site's robots.txt rules."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self._allowed = [ipaddress.ip_network(n, strict=False) for n in policy.allow_networks]
        self._client = httpx.Client(headers={"User-Agent": policy.user_agent}, follow_redirects=False,
                                    timeout=policy.timeout)
        self._robots: dict[str, urllib.robotparser.RobotFileParser] = {}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def get(self, url: str) -> Fetched:
        """The body at ``url`` after redirects; FetchError (with the reason) when refused or failed."""
        for _hop in range(self.policy.max_redirects + 1):
            self._check_robots(url)
            status, headers, body = self._request(url, self.policy.max_bytes)
            if status in (301, 302, 303, 307, 308) and headers.get("location"):
                url = urljoin(url, headers["location"])
                continue
            if status >= 400:
                raise FetchError(f"HTTP {status}")
            kind, _, params = headers.get("content-type", "").partition(";")
            charset = params.partition("charset=")[2].strip(" \"'") or None
            return Fetched(url, kind.strip().lower(), charset, body)
        raise FetchError(f"more than {self.policy.max_redirects} redirects")

    def _request(self, url: str, max_bytes: int) -> tuple[int, httpx.Headers, bytes]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"only http(s) URLs can be fetched, not {parts.scheme or 'a relative'}: URL")
        address = self._address(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        host = f"[{address}]" if ":" in address else address
        pinned = parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host).geturl()
        deadline = time.monotonic() + self.policy.timeout
        try:
            with self._client.stream("GET", pinned, headers={"Host": parts.netloc.rpartition("@")[2]},
                                     extensions={"sni_hostname": parts.hostname}) as resp:
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError(f"body of {declared} bytes is over the {max_bytes}-byte limit")
                body = bytearray()
                for piece in resp.iter_bytes():
                    body += piece
                    if len(body) > max_bytes:
                        raise FetchError(f"body is over the {max_bytes}-byte limit")
                    if time.monotonic() > deadline:
                        raise FetchError(f"timed out after {self.policy.timeout:g} s")
                return resp.status_code, resp.headers, bytes(body)
        except httpx.TimeoutException as exc:
            raise FetchError(f"timed out after {self.policy.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"request failed: {exc}") from exc

    def _address(self, hostname: str, port: int) -> str:
        """The checked address to connect to: every address the name resolves to must be allowed."""
        try:
            infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchError(f"cannot resolve host {hostname!r}") from exc
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        for ip in addresses:
            plain = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
            if not plain.is_global and not any(plain in net for net in self._allowed):
                raise FetchError(f"refused: {hostname} resolves to {plain}, a non-public address "
                                 "(allow it with RAG_FETCH_ALLOW_NETWORKS)")
        return str(addresses[0])

    def _check_robots(self, url: str) -> None:
        parts = urlsplit(url)
        site = f"{parts.scheme}://{parts.netloc}"
        rules = self._robots.get(site)
        if rules is None:
            rules = self._robots[site] = self._read_robots(site)
        if not rules.can_fetch(self.policy.user_agent, url):
            raise FetchError("refused by the site's robots.txt")

    def _read_robots(self, site: str) -> urllib.robotparser.RobotFileParser:
        """The site's rules; a missing robots.txt allows everything, an unreadable one nothing."""
        rules = urllib.robotparser.RobotFileParser(f"{site}/robots.txt")
        try:
            status, _headers, body = self._request(f"{site}/robots.txt", ROBOTS_MAX_BYTES)
        except FetchError as exc:
            if str(exc).startswith("refused"):
                raise
            raise FetchError(f"robots.txt could not be read ({exc})") from exc
        if status in (401, 403):
            rules.disallow_all = True
        elif status >= 500:
            raise FetchError(f"robots.txt could not be read (HTTP {status})")
        elif status < 300:
            rules.parse(body.decode("utf-8", "replace").splitlines())
        else:  # 404 and other client errors (or a redirect away): no rules
            rules.allow_all = True
        return rules
