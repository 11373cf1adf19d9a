package digest

// AuthInfo is the value of Authentication-Info (RFC 7616 §3.5, RFC 2617 §3.2.3,
// RFC 7615 §3).
type AuthInfo struct {
	NextNonce string  // "" when absent
	QOP       QOP     // message-qop; "" when absent
	RspAuth   string  // response-auth, lower-case hex; required with QOP
	CNonce    string  // required with QOP, forbidden without
	NC        uint32  // required with QOP, forbidden without
	Extension []Param // unrecognised parameters, in order; nil when none
}

// ParseAuthInfo parses an Authentication-Info field value (#auth-param without an
// auth-scheme, RFC 7615 §3; an empty value is an empty list). nextnonce, rspauth and cnonce
// must be quoted-strings, qop and nc tokens (RFC 7616 §3.5); with qop, rspauth, cnonce and
// nc are mandatory, without it cnonce and nc are forbidden (RFC 2617 §3.2.3).
func ParseAuthInfo(h string) (AuthInfo, error) {
	if err := checkField(h); err != nil {
		return AuthInfo{}, err
	}
	var buf [paramsBuf]rawParam
	ps, err := parseParams(h, 0, buf[:0])
	if err != nil {
		return AuthInfo{}, err
	}
	var a AuthInfo
	s := newSeen(len(ps))
	for _, p := range ps {
		if err := s.add(p); err != nil {
			return AuthInfo{}, err
		}
		var v string
		switch p.name {
		case "nextnonce":
			a.NextNonce, err = wantQuoted(p)
		case "qop":
			if v, err = wantToken(p); err == nil {
				a.QOP = QOP(v)
			}
		case "rspauth":
			a.RspAuth, err = parseLHEX(p)
		case "cnonce":
			a.CNonce, err = wantQuoted(p)
		case "nc":
			a.NC, err = parseNC(p)
		default:
			a.Extension = append(a.Extension, Param{Name: p.name, Value: p.value})
		}
		if err != nil {
			return AuthInfo{}, err
		}
	}
	if err := checkQOPGroup(s, "rspauth", "rspauth", "cnonce", "nc"); err != nil {
		return AuthInfo{}, err
	}
	return a, nil
}

func isAuthInfoParam(n string) bool {
	switch n {
	case "nextnonce", "qop", "rspauth", "cnonce", "nc":
		return true
	}
	return false
}

// Header formats a as an Authentication-Info field value that ParseAuthInfo accepts and
// that parses back to a. It fails with ErrInvalidParam when a value cannot be represented
// or when CNonce/NC are set without QOP.
func (a AuthInfo) Header() (string, error) {
	var w writer
	w.b.Grow(64 + len(a.NextNonce) + len(a.RspAuth) + len(a.CNonce))
	if a.NextNonce != "" {
		w.quoted("nextnonce", a.NextNonce)
	}
	if !isLHEX(a.RspAuth) {
		w.fail("rspauth", "must be lower-case hex")
	}
	if a.QOP != "" {
		w.token("qop", string(a.QOP))
		w.quoted("rspauth", a.RspAuth)
		w.quoted("cnonce", a.CNonce)
		w.token("nc", formatNC(a.NC))
	} else {
		if a.CNonce != "" || a.NC != 0 {
			w.fail("qop", "is required when cnonce or nc is set")
		}
		if a.RspAuth != "" {
			w.quoted("rspauth", a.RspAuth)
		}
	}
	w.extensions(a.Extension, isAuthInfoParam)
	return w.result()
}
