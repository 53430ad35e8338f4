package callbackurl

import (
	"net"
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr   string
		public bool
	}{
		// Public.
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"47.96.0.1", true}, // Alibaba Cloud public
		{"100.63.255.255", true},
		{"100.128.0.0", true},
		{"172.15.255.255", true},
		{"172.32.0.0", true},
		{"192.169.0.1", true},
		{"223.255.255.255", true},
		{"2400:3200::1", true}, // Alibaba public DNS
		{"2606:4700:4700::1111", true},
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", true},  // 6to4 of 8.8.8.8
		// IPv4 refused.
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"10.0.0.1", false},
		{"10.255.255.255", false},
		{"100.64.0.1", false},
		{"100.100.100.200", false}, // Alibaba Cloud metadata
		{"100.127.255.255", false},
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"169.254.169.254", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.0.0.1", false},
		{"192.0.2.1", false},
		{"192.168.1.1", false},
		{"198.18.0.1", false},
		{"198.51.100.1", false},
		{"203.0.113.1", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		// IPv6 refused.
		{"::", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:100.100.100.200", false},
		{"::127.0.0.1", false},        // IPv4-compatible (deprecated)
		{"64:ff9b::a9fe:a9fe", false}, // NAT64 of 169.254.169.254
		{"64:ff9b:1::1", false},
		{"2002:7f00:1::1", false}, // 6to4 of 127.0.0.1
		{"2002:a00:1::1", false},  // 6to4 of 10.0.0.1
		{"2001::1", false},        // Teredo
		{"2001:db8::1", false},
		{"3fff::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"100::1", false},
	}
	for _, tc := range tests {
		a := netip.MustParseAddr(tc.addr)
		public, reason := Classify(a)
		if public != tc.public {
			t.Errorf("Classify(%s) = %v (%q), want %v", tc.addr, public, reason, tc.public)
		}
		if !public && reason == "" {
			t.Errorf("Classify(%s): no reason", tc.addr)
		}
	}
	if ok, _ := Classify(netip.Addr{}); ok {
		t.Errorf("zero Addr classified public")
	}
}

// FuzzClassify cross-checks Classify with the standard library's own
// predicates and checks that every IPv4-mapped form is judged like IPv4.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "100.100.100.200", "::ffff:10.0.0.1", "fe80::1", "8.8.8.8", "2002:a00:1::1", "64:ff9b::a9fe:a9fe"} {
		b := netip.MustParseAddr(s).As16()
		f.Add(b[:])
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var b [16]byte
		copy(b[:], raw)
		a := netip.AddrFrom16(b)
		public, reason := Classify(a)
		if !public && reason == "" {
			t.Fatalf("%s refused without a reason", a)
		}
		ip := net.IP(b[:])
		if public && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
			ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified()) {
			t.Fatalf("%s classified public but the standard library says it is not global", a)
		}
		if a.Is4In6() {
			p4, _ := Classify(a.Unmap())
			if p4 != public {
				t.Fatalf("%s and %s classified differently", a, a.Unmap())
			}
		}
	})
}
