package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hsssim "github.com/opengba/opengba/hss-sim"
	"github.com/opengba/opengba/internal/aka"
	"github.com/opengba/opengba/specs"
)

// zhErlangTools returns the escript binary, or skips the test when escript or OTP's
// diameter application is missing (Debian: erlang-base, erlang-diameter).
func zhErlangTools(t *testing.T) string {
	t.Helper()
	escript, err := exec.LookPath("escript")
	if err != nil {
		t.Skip("interop: escript is not on PATH; install the Debian packages erlang-base and erlang-diameter to run the OTP diameter Zh interop test")
	}
	erl, err := exec.LookPath("erl")
	if err != nil {
		t.Skip("interop: erl is not on PATH; install erlang-base and erlang-diameter")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, erl, "-noshell", "-eval",
		`case code:lib_dir(diameter) of {error, _} -> halt(1); _ -> halt(0) end.`).CombinedOutput()
	if err != nil {
		t.Skipf("interop: OTP's diameter application is missing (%v %s); install erlang-diameter", err, out)
	}
	return escript
}

// zhMilenageSet is one set of specs/vectors/ts35208.json.
type zhMilenageSet struct {
	Name, K, OPc, RAND, SQN, AMF, F2, F3, F4, AUTN string
}

func zhLoadSet(t *testing.T, name string) zhMilenageSet {
	t.Helper()
	var v struct {
		Sets []struct {
			Name string `json:"name"`
			K    string `json:"K"`
			OPc  string `json:"OPc"`
			RAND string `json:"RAND"`
			SQN  string `json:"SQN"`
			AMF  string `json:"AMF"`
			F2   string `json:"f2"`
			F3   string `json:"f3"`
			F4   string `json:"f4"`
			AUTN string `json:"AUTN"`
		} `json:"sets"`
	}
	if err := specs.Vectors("ts35208", &v); err != nil {
		t.Fatal(err)
	}
	for _, s := range v.Sets {
		if s.Name == name {
			return zhMilenageSet{s.Name, s.K, s.OPc, s.RAND, s.SQN, s.AMF, s.F2, s.F3, s.F4, s.AUTN}
		}
	}
	t.Fatalf("no set %s", name)
	return zhMilenageSet{}
}

// zhRepeat is a RAND source that yields b again and again.
type zhRepeat []byte

func (r zhRepeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r[i%len(r)]
	}
	return len(p), nil
}

// zhMAALine is one "MAA ..." line of zh_client.escript.
type zhMAALine map[string]string

func zhParseLine(line string) zhMAALine {
	m := zhMAALine{}
	for _, f := range strings.Fields(line)[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

// TestErlangZhClient: an independent Zh peer, OTP's diameter application with its own
// dictionary (tests/interop/erlang/opengba_zh.dia), does CER/CEA with an in-process
// hss-sim on 127.0.0.1 and sends MARs (TS 29.109 §6.1.1). The vector it prints is checked
// against TS 35.208 set 1 (exact AUTN, XRES = f2, CK = f3, IK = f4 with the set's RAND
// and SQN) and with the USIM emulator; an IMPU-only MAR and an unknown IMPI are answered
// as TS 29.109 §4.2 and §6.2.2.1 say.
func TestErlangZhClient(t *testing.T) {
	escript := zhErlangTools(t)
	set := zhLoadSet(t, "TS35208/set1")
	const impi, impu = "user1_private@home1.net", "sip:user1@home1.net"

	st, err := hsssim.NewMemoryStore(hsssim.DefaultSQNConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sub, err := (&hsssim.SubscriberSpec{IMPI: impi, IMPUs: []string{impu}, K: set.K, OPc: set.OPc, AMF: set.AMF}).Build(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// SQN_HE one step before the set's SQN (SEQ−1, IND−1, TS 33.102 §C.1.1), so that the
	// first vector carries exactly the set's SQN.
	sqn, err := hsssim.ParseSQN(set.SQN)
	if err != nil {
		t.Fatal(err)
	}
	c := hsssim.DefaultSQNConfig()
	sub.SQN = c.Join(c.SEQ(sqn)-1, c.IND(sqn)-1)
	if err := st.Create(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	rnd, _ := hex.DecodeString(set.RAND)
	z, err := hsssim.NewZhServer(hsssim.ZhServerOptions{
		Store: st,
		Config: hsssim.DiameterConfig{ListenTCP: []string{"127.0.0.1:0"}, OriginHost: "hss.home1.net",
			OriginRealm: "home1.net", Open: true},
		Rand:   zhRepeat(rnd),
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = z.Close() })
	host, port, err := net.SplitHostPort(z.Listeners()[0].Addr.String())
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, escript, filepath.Join("erlang", "zh_client.escript"),
		filepath.Join("erlang", "opengba_zh.dia"), host, port,
		"impi:"+impi, "impu:"+impu, "impi:nobody@home1.net")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("escript: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	var cea string
	var maas []zhMAALine
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		switch line := sc.Text(); {
		case strings.HasPrefix(line, "CEA "):
			cea = line
		case strings.HasPrefix(line, "MAA "):
			maas = append(maas, zhParseLine(line))
		}
	}
	if cea != "CEA peer=hss.home1.net" {
		t.Fatalf("capabilities exchange: %q\n%s", cea, out)
	}
	if len(maas) != 3 || !strings.Contains(string(out), "DONE") {
		t.Fatalf("want 3 answers and DONE:\n%s", out)
	}

	// 1. By IMPI: exactly the TS 35.208 set 1 vector.
	first := maas[0]
	if first["result"] != "2001" || first["scheme"] != "Digest-AKAv1-MD5" || first["user"] != "-" {
		t.Fatalf("MAA by IMPI: %v", first)
	}
	for field, want := range map[string]string{"rand": set.RAND, "autn": set.AUTN, "xres": set.F2, "ck": set.F3, "ik": set.F4} {
		if first[field] != want {
			t.Errorf("%s from the OTP peer differs from TS 35.208 set 1", field)
		}
	}

	// 1 and 2 verify with Milenage in the USIM emulator, in order (fresh SQNs).
	k, _ := aka.ParseKey(set.K)
	opc, _ := aka.ParseKey(set.OPc)
	arr, err := aka.NewSQNArray(aka.SQNScheme{INDBits: hsssim.DefaultINDBits, Delta: uint64(aka.MaxSQN) >> hsssim.DefaultINDBits})
	if err != nil {
		t.Fatal(err)
	}
	usim, err := aka.NewUSIM(k, opc, arr, aka.AMFSeparationIgnored)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range maas[:2] {
		rand, err1 := hex.DecodeString(m["rand"])
		autn, err2 := hex.DecodeString(m["autn"])
		if err1 != nil || err2 != nil {
			t.Fatalf("answer %d: bad hex", i)
		}
		res, err := usim.Authenticate(rand, autn)
		if err != nil {
			t.Fatalf("answer %d: USIM rejects the AV: %v", i, err)
		}
		if hex.EncodeToString(res.RES[:]) != m["xres"] || hex.EncodeToString(res.CK[:]) != m["ck"] || hex.EncodeToString(res.IK[:]) != m["ik"] {
			t.Fatalf("answer %d: XRES/CK/IK differ from Milenage", i)
		}
	}
	// 2. By IMPU: the IMPI comes back in User-Name (TS 29.109 §4.2).
	if maas[1]["result"] != "2001" || maas[1]["user"] != impi {
		t.Fatalf("MAA by IMPU: %v", maas[1])
	}
	// 3. Unknown IMPI: Experimental-Result 5401, vendor 10415 (TS 29.109 §6.2.2.1).
	if m := maas[2]; m["result"] != "0" || m["exp"] != "5401" || m["vendor"] != "10415" || m["rand"] != "" {
		t.Fatalf("MAA for an unknown IMPI: %v", m)
	}
}
