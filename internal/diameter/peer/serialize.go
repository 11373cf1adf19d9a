package peer

import (
	"encoding/binary"
	"errors"
	"sync"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

// errNilData is go-diameter's refusal to serialize an AVP without data.
var errNilData = errors.New("peer: AVP without data")

// serialize writes m into buf (reused when large enough) and returns the frame: the same
// octets as (*diam.Message).Serialize, RFC 6733 §3 and §4.1, without its per-AVP and
// per-group allocations. The common data types are written in place; any other goes
// through its own Serialize, as go-diameter does.
func serialize(m *diam.Message, buf []byte) ([]byte, error) {
	n := m.Len()
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	m.Header.SerializeTo(buf[:diam.HeaderLength])
	off := diam.HeaderLength
	for _, a := range m.AVP {
		if err := putAVP(buf[off:], a); err != nil {
			return nil, err
		}
		off += a.Len()
	}
	return buf, nil
}

// putAVP writes a at the start of b, as (*diam.AVP).SerializeTo: header with the Length of
// header and data, the data, zero padding to its Len.
func putAVP(b []byte, a *diam.AVP) error {
	if a.Data == nil {
		return errNilData
	}
	binary.BigEndian.PutUint32(b[0:4], a.Code)
	b[4] = a.Flags
	hl := 8
	if a.Flags&avp.Vbit != 0 {
		hl = 12
		binary.BigEndian.PutUint32(b[8:12], a.VendorID)
	}
	dl := a.Data.Len()
	l := hl + dl
	b[5], b[6], b[7] = byte(l>>16), byte(l>>8), byte(l)
	p := b[hl:]
	var n int
	switch v := a.Data.(type) {
	case datatype.OctetString:
		n = copy(p, v)
	case datatype.UTF8String:
		n = copy(p, v)
	case datatype.DiameterIdentity:
		n = copy(p, v)
	case datatype.Unsigned32:
		binary.BigEndian.PutUint32(p, uint32(v))
		n = 4
	case datatype.Enumerated:
		binary.BigEndian.PutUint32(p, uint32(v))
		n = 4
	case datatype.Integer32:
		binary.BigEndian.PutUint32(p, uint32(v))
		n = 4
	case *diam.GroupedAVP:
		for _, m := range v.AVP {
			if err := putAVP(p[n:], m); err != nil {
				return err
			}
			n += m.Len()
		}
	default:
		n = copy(p, a.Data.Serialize())
	}
	// go-diameter serializes into a zeroed buffer and zeroes the padding: whatever the data
	// did not cover up to the AVP's padded length is zero.
	if end := min(dl+a.Data.Padding(), len(p)); n < end {
		clear(p[n:end])
	}
	return nil
}

// maxPooledFrame bounds the buffers kept for reuse.
const maxPooledFrame = 8 << 10

// framePool recycles frame buffers (*[]byte): the answers serialized by serveRequest,
// which go back once written (writes are synchronous and net.Conn.Write keeps no
// reference), and the requests read, which go back once served.
type framePool struct{ p sync.Pool }

func (fp *framePool) get() *[]byte {
	if bp, ok := fp.p.Get().(*[]byte); ok {
		return bp
	}
	return new([]byte)
}

func (fp *framePool) put(bp *[]byte, b []byte) {
	if cap(b) > maxPooledFrame {
		return
	}
	*bp = b[:0]
	fp.p.Put(bp)
}
