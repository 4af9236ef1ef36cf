package hba

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// addrKind is how a host line compares the client's address (PostgreSQL's
// IPCompareMethod).
type addrKind uint8

const (
	addrRange    addrKind = iota // ip and mask
	addrAll                      // all
	addrSameHost                 // samehost
	addrSameNet                  // samenet
)

// addrMatch is the address column of a host line.
type addrMatch struct {
	kind     addrKind
	ip, mask netip.Addr // addrRange: one family, no zone
}

// parseAddr reads an address column. needMask is set when the address has
// no /bits, so the next column is its mask (see parseMask).
func parseAddr(t token) (m addrMatch, needMask bool, err error) {
	switch {
	case t.keyword("all"):
		return addrMatch{kind: addrAll}, false, nil
	case t.keyword("samehost"):
		return addrMatch{kind: addrSameHost}, false, nil
	case t.keyword("samenet"):
		return addrMatch{kind: addrSameNet}, false, nil
	}
	s, bits, cidr := strings.Cut(t.text, "/")
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return m, false, fmt.Errorf("invalid IP address %q: the pooler's hba takes IP addresses and CIDR ranges, not host names (it does not resolve names)", t.text)
	}
	// PostgreSQL compares addresses without their IPv6 scope.
	m = addrMatch{kind: addrRange, ip: ip.WithZone("")}
	if !cidr {
		return m, true, nil
	}
	n, err := strconv.Atoi(bits)
	if err != nil || bits == "" || strings.TrimLeft(bits, "0123456789") != "" || n > ip.BitLen() {
		return m, false, fmt.Errorf("invalid CIDR mask in address %q", t.text)
	}
	m.mask = prefixMask(ip.BitLen(), n)
	return m, false, nil
}

// parseMask reads the mask column that follows an address without /bits.
// Like PostgreSQL, it takes any mask of the address's family, contiguous
// or not.
func parseMask(m addrMatch, t token) (addrMatch, error) {
	mask, err := netip.ParseAddr(t.text)
	if err != nil || mask.Zone() != "" {
		return m, fmt.Errorf("invalid IP mask %q", t.text)
	}
	if mask.BitLen() != m.ip.BitLen() {
		return m, fmt.Errorf("IP address %s and mask %q do not match", m.ip, t.text)
	}
	m.mask = mask
	return m, nil
}

// prefixMask is the mask with the first ones of bits bits set.
func prefixMask(bits, ones int) netip.Addr {
	var b [16]byte
	for i := 0; i < ones; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	if bits == 32 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

// matches reports whether the client address a fits the column.
func (m addrMatch) matches(a netip.Addr) bool {
	switch m.kind {
	case addrAll:
		return true
	case addrRange:
		return inRange(a, m.ip, m.mask)
	default:
		return sameHostOrNet(a, m.kind == addrSameNet)
	}
}

// inRange reports whether a equals ip in every bit mask sets
// (PostgreSQL's pg_range_sockaddr). The families must be the same, except
// that an IPv4-mapped IPv6 address is also compared as the IPv4 address it
// maps.
func inRange(a, ip, mask netip.Addr) bool {
	a = a.WithZone("")
	if ip.Is4() {
		a = a.Unmap()
	}
	if !a.IsValid() || a.BitLen() != ip.BitLen() {
		return false
	}
	ab, ib, mb := a.As16(), ip.As16(), mask.As16()
	for i := range ab {
		if ab[i]&mb[i] != ib[i]&mb[i] {
			return false
		}
	}
	return true
}

// sameHostOrNet reports whether a is an address of one of the machine's
// network interfaces or, with sameNet, in one of their subnets
// (PostgreSQL's check_same_host_or_net). The interfaces are listed on each
// call, as PostgreSQL does on each login, so changes need no reload; when
// they cannot be listed nothing matches.
func sameHostOrNet(a netip.Addr, sameNet bool) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		ipn, ok := ia.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap() // net keeps IPv4 addresses in 16 bytes
		ones, bits := ipn.Mask.Size()
		if !sameNet {
			ones = ip.BitLen()
		} else if bits != ip.BitLen() {
			continue // a non-canonical mask; Linux gives none
		}
		if inRange(a, ip, prefixMask(ip.BitLen(), ones)) {
			return true
		}
	}
	return false
}
