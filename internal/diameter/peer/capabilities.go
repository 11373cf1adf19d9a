package peer

import (
	"net"
	"net/netip"
	"slices"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/opengba/opengba/internal/diameter"
)

func diamIdentity(s string) datatype.DiameterIdentity { return datatype.DiameterIdentity(s) }
func enumerated(v int32) datatype.Enumerated          { return datatype.Enumerated(v) }

// hostIPs are the Host-IP-Address values: the configured ones, else the local address of
// the connection, RFC 6733 §5.3.5.
func (ep *endpoint) hostIPs(local net.Addr) []netip.Addr {
	if len(ep.id.HostIPAddresses) > 0 {
		return ep.id.HostIPAddresses
	}
	if local != nil {
		if ap, err := netip.ParseAddrPort(local.String()); err == nil {
			return []netip.Addr{ap.Addr()}
		}
		if a, err := netip.ParseAddr(local.String()); err == nil {
			return []netip.Addr{a}
		}
	}
	return []netip.Addr{netip.IPv4Unspecified()}
}

// capabilityAVPs are the AVPs a CER or CEA carries after Origin-Host and Origin-Realm,
// RFC 6733 §5.3.1 and §5.3.2: Host-IP-Address, Vendor-Id, Product-Name, Origin-State-Id,
// Supported-Vendor-Id and the served applications (vendor-specific ones as
// Vendor-Specific-Application-Id only, TS 29.109 §5.1), Firmware-Revision. Only the
// configured applications are advertised.
func (ep *endpoint) capabilityAVPs(local net.Addr) []*diam.AVP {
	var out []*diam.AVP
	for _, a := range ep.hostIPs(local) {
		out = append(out, diam.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(a.Unmap().AsSlice())))
	}
	out = append(out,
		diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(ep.id.VendorID)),
		diam.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String(ep.id.ProductName)))
	if ep.id.OriginStateID != 0 {
		out = append(out, diam.NewAVP(avp.OriginStateID, avp.Mbit, 0, datatype.Unsigned32(ep.id.OriginStateID)))
	}
	var vendors []uint32
	for _, a := range ep.apps {
		if a.VendorID != 0 && !slices.Contains(vendors, a.VendorID) {
			vendors = append(vendors, a.VendorID)
			out = append(out, diam.NewAVP(avp.SupportedVendorID, avp.Mbit, 0, datatype.Unsigned32(a.VendorID)))
		}
	}
	for _, a := range ep.apps {
		if a.VendorID == 0 {
			out = append(out, diam.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(a.ID)))
			continue
		}
		out = append(out, diam.NewAVP(avp.VendorSpecificApplicationID, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
			diam.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(a.VendorID)),
			diam.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(a.ID)),
		}}))
	}
	if ep.id.FirmwareRevision != 0 {
		out = append(out, diam.NewAVP(avp.FirmwareRevision, 0, 0, datatype.Unsigned32(ep.id.FirmwareRevision)))
	}
	return out
}

// cer builds the Capabilities-Exchange-Request, RFC 6733 §5.3.1.
func (ep *endpoint) cer(local net.Addr) ([]byte, error) {
	m := diam.NewRequest(diameter.CmdCapabilitiesExchange, diameter.AppIDBase, ep.dict)
	m.Header.EndToEndID = ep.nextE2E()
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, diamIdentity(ep.id.OriginHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, diamIdentity(ep.id.OriginRealm))
	for _, a := range ep.capabilityAVPs(local) {
		m.AddAVP(a)
	}
	return m.Serialize()
}

// identityOf returns Origin-Host, Origin-Realm and Product-Name of a CER or CEA.
func identityOf(m *diam.Message) (host, realm, product string) {
	for _, a := range m.AVP {
		if a.VendorID != 0 {
			continue
		}
		switch a.Code {
		case avp.OriginHost:
			host = avpString(a)
		case avp.OriginRealm:
			realm = avpString(a)
		case avp.ProductName:
			product = avpString(a)
		}
	}
	return host, realm, product
}

func avpString(a *diam.AVP) string {
	switch d := a.Data.(type) {
	case datatype.DiameterIdentity:
		return string(d)
	case datatype.UTF8String:
		return string(d)
	case datatype.OctetString:
		return string(d)
	}
	return ""
}

func avpUnsigned32(a *diam.AVP) (uint32, bool) {
	d, ok := a.Data.(datatype.Unsigned32)
	return uint32(d), ok
}

// resultCode returns the Result-Code of an answer.
func resultCode(m *diam.Message) (uint32, bool) {
	for _, a := range m.AVP {
		if a.Code == avp.ResultCode && a.VendorID == 0 {
			return avpUnsigned32(a)
		}
	}
	return 0, false
}

// advertised collects the application ids of a CER or CEA: Auth-Application-Id,
// Acct-Application-Id and those inside Vendor-Specific-Application-Id, whose Vendor-Id is
// not used, RFC 6733 §5.3.
func advertised(m *diam.Message) []uint32 {
	var ids []uint32
	add := func(a *diam.AVP) {
		if a.VendorID == 0 && (a.Code == avp.AuthApplicationID || a.Code == avp.AcctApplicationID) {
			if id, ok := avpUnsigned32(a); ok {
				ids = append(ids, id)
			}
		}
	}
	for _, a := range m.AVP {
		add(a)
		if a.Code == avp.VendorSpecificApplicationID && a.VendorID == 0 {
			if g, ok := a.Data.(*diam.GroupedAVP); ok {
				for _, in := range g.AVP {
					add(in)
				}
			}
		}
	}
	return ids
}

// common intersects our applications with the peer's; a relay (0xffffffff) shares them
// all, RFC 6733 §5.3.
func (ep *endpoint) common(theirs []uint32) []uint32 {
	var out []uint32
	relay := slices.Contains(theirs, diameter.AppIDRelay)
	for _, a := range ep.apps {
		if (relay || slices.Contains(theirs, a.ID)) && !slices.Contains(out, a.ID) {
			out = append(out, a.ID)
		}
	}
	return out
}
