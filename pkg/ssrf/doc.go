// Package ssrf keeps webhook deliveries from reaching addresses that are not on the public
// internet: Herald's own loopback, the networks it runs in, cloud metadata services and the like
// (server-side request forgery).
//
// The check happens when a connection is dialled, after DNS resolution, on the IP address the
// socket is about to connect to: install [Guard.Control] as a net.Dialer's Control hook, or use
// [Guard.DialContext] as an http.Transport's DialContext. Checking the URL's host name before the
// request would not do: a name can resolve to a public address when checked and to a private one
// when dialled (DNS rebinding), and a redirect can point anywhere. Keep the transport's Proxy nil,
// or the guard sees only the proxy's address.
//
// A zero [Guard] refuses the ranges below and admits every other address; [Guard.Allow] admits
// chosen prefixes despite them (for example [LoopbackOnly] in local development). IPv4-mapped
// IPv6 addresses (::ffff:a.b.c.d) are judged as the IPv4 address they carry, and zones are
// ignored. The Reason in a [BlockedError] is the word in brackets.
//
// IPv4 (RFC 6890 and the IANA special-purpose registry):
//   - 0.0.0.0 [unspecified], which reaches the local host on Linux; the rest of 0.0.0.0/8
//     [this-network]
//   - 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 [private] (RFC 1918)
//   - 100.64.0.0/10 [cgnat] (shared address space, RFC 6598; internal in some clouds)
//   - 127.0.0.0/8 [loopback]
//   - 169.254.0.0/16 [link-local], which holds the cloud metadata endpoint 169.254.169.254
//   - 192.0.0.0/24 [protocol-assignments] (DS-Lite, NAT64 discovery and other IETF uses)
//   - 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 [documentation]
//   - 192.88.99.0/24 [6to4-relay] (deprecated anycast, RFC 7526)
//   - 198.18.0.0/15 [benchmarking] (RFC 2544)
//   - 224.0.0.0/4 [multicast]
//   - 255.255.255.255 [broadcast]; the rest of 240.0.0.0/4 [reserved]
//
// IPv6 addresses are admitted only in the global unicast block 2000::/3 or the NAT64 prefix, and
// not all of those:
//   - :: [unspecified], ::1 [loopback], fe80::/10 [link-local], fec0::/10 [site-local],
//     fc00::/7 [private] (unique local, RFC 4193), ff00::/8 [multicast]
//   - every other address outside 2000::/3 [reserved]: IPv4-compatible ::a.b.c.d, the SIIT form
//     ::ffff:0:a.b.c.d, 100::/64 (discard-only), 64:ff9b:1::/48 (local-use NAT64, whose
//     embedding the guard cannot know), 5f00::/16 (SRv6) and unassigned space
//   - 64:ff9b::/96 (NAT64, RFC 6052) and 2002::/16 (6to4, RFC 3056) carry an IPv4 address, which is
//     judged as above: the Reason is, for example, "nat64 of loopback"; a public IPv4 address is
//     admitted
//   - 2001::/23 [protocol-assignments] (Teredo, benchmarking, ORCHID and other IETF uses)
//   - 2001:db8::/32 and 3fff::/20 [documentation]
package ssrf
