package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/internal/testbed"
)

// checkHTML parses the page as XML (it must be well-formed XHTML with an inline SVG) and
// counts the message arrows.
func checkHTML(t *testing.T, page []byte, wantMessages int) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict = true
	var svg, msgs, texts int
	var inSVG bool
	var text strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the HTML is not well-formed XML: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			switch e.Name.Local {
			case "svg":
				svg++
				inSVG = true
				if e.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("svg namespace %q", e.Name.Space)
				}
			case "line":
				for _, a := range e.Attr {
					if a.Name.Local == "class" && a.Value == "msg" {
						msgs++
					}
				}
			case "text":
				if inSVG {
					texts++
				}
			case "script", "link", "img", "iframe":
				t.Errorf("page is not self-contained: <%s>", e.Name.Local)
			}
		case xml.EndElement:
			if e.Name.Local == "svg" {
				inSVG = false
			}
		case xml.CharData:
			text.Write(e)
		}
	}
	if svg != 1 || msgs != wantMessages || texts < 2*wantMessages {
		t.Errorf("svg %d, message arrows %d (want %d), texts %d", svg, msgs, wantMessages, texts)
	}
	for _, want := range []string{"MAR (303)", "MAA 2001", "BIR (310)", "BIA 2001", "POST /maf/v1/keys", "UE and MAF hold the same Kmr", "yes"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// sampleLadder is a ladder with every kind of step, for rendering tests that need no
// testbed.
func sampleLadder() *testbed.Ladder {
	k := testbed.NewSecret([]byte("0123456789abcdef0123456789abcdef"))
	steps := []testbed.Step{
		{From: testbed.NodeUE, To: testbed.NodeBSF, Interface: "Ub", Label: "GET /", Fields: []testbed.Field{{Name: "username", Value: `a<b>&"c"@x`}}},
		{From: testbed.NodeBSF, To: testbed.NodeHSS, Interface: "Zh", Label: "MAR (303)"},
		{From: testbed.NodeHSS, To: testbed.NodeBSF, Interface: "Zh", Label: "MAA 2001 DIAMETER_SUCCESS", RTT: time.Millisecond, Fields: []testbed.Field{{Name: "CK", Key: k}}},
		{From: testbed.NodeUE, To: testbed.NodeUE, Interface: "UE", Label: "Ks = CK ‖ IK"},
		{From: testbed.NodeMEF, To: testbed.NodeBSF, Interface: "Zn", Label: "BIR (310)"},
		{From: testbed.NodeBSF, To: testbed.NodeMEF, Interface: "Zn", Label: "BIA 2001 DIAMETER_SUCCESS", RTT: time.Millisecond},
		{From: testbed.NodeMEF, To: testbed.NodeMAF, Interface: "MAF", Label: "POST /maf/v1/keys"},
		{From: testbed.NodeMAF, To: testbed.NodeMEF, Interface: "MAF", Label: "503 Service Unavailable", Err: true, RTT: time.Millisecond},
	}
	for i := range steps {
		steps[i].At = time.Duration(i) * 100 * time.Microsecond
	}
	return &testbed.Ladder{Nodes: []testbed.Node{testbed.NodeUE, testbed.NodeBSF, testbed.NodeHSS, testbed.NodeMEF, testbed.NodeMAF}, Steps: steps}
}

func TestHTMLWellFormed(t *testing.T) {
	var b bytes.Buffer
	res := htmlResult{Title: "t <&> \"q\"", Rows: [][2]string{{"UE and MAF hold the same Kmr", "yes"}}}
	if err := writeHTMLLadder(&b, sampleLadder(), res, false); err != nil {
		t.Fatal(err)
	}
	checkHTML(t, b.Bytes(), 7)
	if strings.Contains(b.String(), "3031323334") || !strings.Contains(b.String(), "sha256:") {
		t.Error("the key is not shown as a fingerprint")
	}
	b.Reset()
	if err := writeHTMLLadder(&b, sampleLadder(), res, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "3031323334") {
		t.Error("--show-keys does not reveal the key")
	}
}

func TestTextLadder(t *testing.T) {
	var b bytes.Buffer
	writeTextLadder(&b, sampleLadder(), false)
	out := b.String()
	for _, want := range []string{
		"|---------->|           |           |           |  Ub   GET /",
		"|           |<----------|           |           |  Zh   MAA 2001 DIAMETER_SUCCESS  (1.00 ms)",
		"*           |           |           |           |  UE   Ks = CK ‖ IK",
		"|           |<----------------------|           |  Zn   BIR (310)",
		"|           |           |           |<----------|  MAF  FAILED 503 Service Unavailable",
		"CK=sha256:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text ladder lacks %q:\n%s", want, out)
		}
	}
}

// TestHTMLRendersInChromium renders the page of a real run with headless Chromium and
// checks the screenshot is a picture, not a blank page.
func TestHTMLRendersInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not on PATH: skipping the headless rendering check (apt-get install chromium to run it)")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "ladder.html")
	if code, out, errs := runCmd(t, "--html", page); code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	shot := filepath.Join(dir, "ladder.png")
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--window-size=1600,1400", "--screenshot="+shot, "file://"+page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	bounds := img.Bounds()
	colors := map[[3]uint32]bool{}
	dark := 0
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			colors[[3]uint32{r >> 12, g >> 12, b >> 12}] = true
			if r+g+b < 3*0x8000 {
				dark++
			}
		}
	}
	total := bounds.Dx() * bounds.Dy() / 4
	if bounds.Dx() < 800 || len(colors) < 8 || dark < total/200 {
		t.Errorf("screenshot %v looks blank: %d colours, %d of %d sampled pixels dark", bounds, len(colors), dark, total)
	}
}
