package hsssim

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

type wantRowErr struct {
	line  int
	field string // FieldError field, "" for other errors
	is    error
}

func checkReport(t *testing.T, rep ImportReport, rows, imported int, want []wantRowErr) {
	t.Helper()
	if rep.Rows != rows || rep.Imported != imported || rep.Failed != rows-imported || len(rep.Errors) != len(want) {
		t.Fatalf("report rows=%d imported=%d failed=%d errors=%v; want rows=%d imported=%d errors=%d",
			rep.Rows, rep.Imported, rep.Failed, rep.Errors, rows, imported, len(want))
	}
	for i, w := range want {
		got := rep.Errors[i]
		if got.Line != w.line {
			t.Errorf("error %d at line %d, want %d: %v", i, got.Line, w.line, got)
		}
		if w.field != "" {
			var fe *FieldError
			if !errors.As(got, &fe) || fe.Field != w.field {
				t.Errorf("line %d: %v, want field %q", got.Line, got, w.field)
			}
		}
		if w.is != nil && !errors.Is(got, w.is) {
			t.Errorf("line %d: %v, want %v", got.Line, got, w.is)
		}
		if !strings.HasPrefix(got.Error(), fmt.Sprintf("line %d: ", w.line)) {
			t.Errorf("message %q lacks the line", got.Error())
		}
	}
}

func importFile(t *testing.T, st Store, name string, opts ImportOptions) ImportReport {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := Import(context.Background(), st, f, name, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestImportCSV(t *testing.T) {
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			st, _ := f.open(t, DefaultSQNConfig())
			want := []wantRowErr{
				{line: 5, field: "k"},
				{line: 6, is: ErrExists},
				{line: 7, is: ErrInvalid},
				{line: 9, field: "sqn"},
			}
			rep := importFile(t, st, "testdata/subscribers.csv", ImportOptions{DryRun: true})
			if !rep.DryRun || rep.Format != FormatCSV {
				t.Fatalf("report %+v", rep)
			}
			checkReport(t, rep, 7, 3, want)
			if n, _ := st.Count(context.Background()); n != 0 {
				t.Fatalf("dry run wrote %d subscribers", n)
			}
			rep = importFile(t, st, "testdata/subscribers.csv", ImportOptions{BatchSize: 2})
			checkReport(t, rep, 7, 3, want)
			s, err := st.Get(context.Background(), "user1_private@home1.net")
			if err != nil {
				t.Fatal(err)
			}
			// OP of TS35208/set1 became its OPc.
			if hex.EncodeToString(s.OPc[:]) != "cd63cb71954a9f4e48a5994e37a02baf" || len(s.IMPUs) != 2 || s.SQN != 0xff9bb4d0b607 || s.AMF != [2]byte{0xb9, 0xb9} {
				t.Fatalf("imported record wrong: %+v", s)
			}
			if _, err := st.Get(context.Background(), "quoted,impi@home1.net"); err != nil {
				t.Fatal(err)
			}
			// Importing again: every good row now exists.
			rep = importFile(t, st, "testdata/subscribers.csv", ImportOptions{})
			if rep.Imported != 0 || rep.Failed != 7 || !errors.Is(rep.Errors[0], ErrExists) {
				t.Fatalf("reimport %+v", rep)
			}
			// A dry run also reports rows that exist in the store.
			rep = importFile(t, st, "testdata/subscribers.csv", ImportOptions{DryRun: true})
			if rep.Imported != 0 || rep.Failed != 7 {
				t.Fatalf("dry reimport %+v", rep)
			}
		})
	}
}

// TestImportSkipExisting: with SkipExisting an IMPI already in the store is skipped (and
// left unchanged) rather than failed, so an import can run again (the compose hss-init);
// bad rows and IMPIs repeated within the file still fail.
func TestImportSkipExisting(t *testing.T) {
	ctx := context.Background()
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			st, _ := f.open(t, DefaultSQNConfig())
			// testdata/subscribers.csv: 7 rows, 3 good, 4 bad (one repeats an IMPI of the file).
			first := importFile(t, st, "testdata/subscribers.csv", ImportOptions{SkipExisting: true})
			if first.Imported != 3 || first.Skipped != 0 || first.Failed != 4 {
				t.Fatalf("first import %+v", first)
			}
			before, err := st.Get(ctx, "user1_private@home1.net")
			if err != nil {
				t.Fatal(err)
			}
			for _, dry := range []bool{true, false} {
				rep := importFile(t, st, "testdata/subscribers.csv", ImportOptions{SkipExisting: true, DryRun: dry})
				if rep.Rows != 7 || rep.Imported != 0 || rep.Skipped != 3 || rep.Failed != 4 || len(rep.Errors) != 4 {
					t.Fatalf("dry=%v: reimport %+v", dry, rep)
				}
				if rep.Imported+rep.Skipped+rep.Failed != rep.Rows {
					t.Fatalf("dry=%v: rows not accounted for: %+v", dry, rep)
				}
				// The repeated IMPI (line 6) is still an error, not a skip.
				if e := rep.Errors[1]; e.Line != 6 || !errors.Is(e, ErrExists) || !strings.Contains(e.Error(), "duplicate of line") {
					t.Fatalf("dry=%v: in-file duplicate: %v", dry, e)
				}
			}
			after, err := st.Get(ctx, "user1_private@home1.net")
			if err != nil || after.SQN != before.SQN || !after.Updated.Equal(before.Updated) {
				t.Fatalf("skipped subscriber changed: %+v → %+v (%v)", before, after, err)
			}
			// Without SkipExisting the same rows fail.
			rep := importFile(t, st, "testdata/subscribers.csv", ImportOptions{})
			if rep.Skipped != 0 || rep.Failed != 7 {
				t.Fatalf("reimport without SkipExisting %+v", rep)
			}
		})
	}
}

func TestImportYAML(t *testing.T) {
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			st, _ := f.open(t, DefaultSQNConfig())
			rep := importFile(t, st, "testdata/subscribers.yaml", ImportOptions{})
			if rep.Format != FormatYAML {
				t.Fatalf("format %v", rep.Format)
			}
			checkReport(t, rep, 7, 3, []wantRowErr{
				{line: 19, field: "opc"},
				{line: 22, field: "ki"},
				{line: 26, is: ErrExists},
				{line: 29, field: "row"},
			})
			s, err := st.Get(context.Background(), "user1_private@home1.net")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(s.GUSS, `<uiccType>GBA</uiccType>`) || s.GUSSTimestamp.IsZero() {
				t.Fatalf("GUSS not imported: %q", s.GUSS)
			}
			s2, err := st.Get(context.Background(), "user2_private@home1.net")
			if err != nil || len(s2.IMPUs) != 1 || s2.AMF != [2]byte{0x80, 0} {
				t.Fatalf("scalar impus / numeric amf: %+v %v", s2, err)
			}
		})
	}
}

func TestImportFatal(t *testing.T) {
	st, err := NewMemoryStore(DefaultSQNConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, data string }{
		{"x.csv", "impi,ki\na@h,00\n"},
		{"x.csv", "k,opc\n00,00\n"},
		{"x.csv", "impi,impi\n"},
		{"x.yaml", "people: []\n"},
		{"x.yaml", "subscribers: {a: 1}\n"},
		{"x.yaml", "- [unclosed\n"},
	} {
		if _, err := Import(context.Background(), st, strings.NewReader(tc.data), tc.name, ImportOptions{}); err == nil {
			t.Errorf("%s %q: no error", tc.name, tc.data)
		}
	}
	for _, tc := range []struct{ name, data string }{{"x.csv", ""}, {"x.yaml", ""}, {"x.yaml", "subscribers: []\n"}} {
		rep, err := Import(context.Background(), st, strings.NewReader(tc.data), tc.name, ImportOptions{})
		if err != nil || rep.Rows != 0 {
			t.Errorf("%s %q: %+v %v", tc.name, tc.data, rep, err)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		want       ImportFormat
	}{
		{"a.csv", "", FormatCSV},
		{"a.CSV", "", FormatCSV},
		{"a.yml", "", FormatYAML},
		{"a.yaml", "impi,k\n", FormatYAML},
		{"-", "impi,k,opc\n", FormatCSV},
		{"-", "# comment\n\nimpi,k,opc\n", FormatCSV},
		{"-", "subscribers:\n  - impi: a\n", FormatYAML},
		{"-", "- impi: a, b\n", FormatYAML},
		{"-", "impi: x\n", FormatYAML},
		{"-", "", FormatYAML},
	} {
		if got := DetectFormat(tc.name, []byte(tc.head)); got != tc.want {
			t.Errorf("DetectFormat(%q, %q) = %v, want %v", tc.name, tc.head, got, tc.want)
		}
	}
}

// genCSV writes n subscribers as CSV.
func genCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("impi,impus,k,op,amf\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "user%06d@ims.mnc001.mcc001.3gppnetwork.org,sip:user%06d@home1.net,%032x,cdc202d5123e20f62b6d676ac72cb318,8000\n", i, i, i+1)
	}
	return b.Bytes()
}

// genYAML writes n subscribers as YAML.
func genYAML(n int) []byte {
	var b bytes.Buffer
	b.WriteString("subscribers:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - impi: user%06d@ims.mnc001.mcc001.3gppnetwork.org\n    k: %032x\n    opc: cd63cb71954a9f4e48a5994e37a02baf\n", i, i+1)
	}
	return b.Bytes()
}

// TestImport10k: 10,000 subscribers import into SQLite in under 10 s, and the list stays
// paginated and fast (first and middle page timed).
func TestImport10k(t *testing.T) {
	const n = 10_000
	for _, tc := range []struct {
		name string
		data []byte
	}{{"bulk.csv", genCSV(n)}, {"bulk.yaml", genYAML(n)}} {
		t.Run(tc.name, func(t *testing.T) {
			st := storeFactories()[1]
			if st.name != "sqlite" {
				t.Fatal("factory order changed")
			}
			store, _ := st.open(t, DefaultSQNConfig())
			ctx := context.Background()
			start := time.Now()
			rep, err := Import(ctx, store, bytes.NewReader(tc.data), tc.name, ImportOptions{})
			elapsed := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Imported != n || rep.Failed != 0 {
				t.Fatalf("report %+v", rep)
			}
			t.Logf("%s: imported %d in %v", tc.name, n, elapsed)
			if elapsed > 10*time.Second {
				t.Fatalf("import took %v, budget 10 s", elapsed)
			}
			if c, _ := store.Count(ctx); c != n {
				t.Fatalf("count %d", c)
			}
			timeList := func(after string) (time.Duration, []*Subscriber) {
				best, page := time.Hour, []*Subscriber(nil)
				for i := 0; i < 3; i++ {
					s := time.Now()
					p, err := store.List(ctx, after, 100)
					if err != nil {
						t.Fatal(err)
					}
					best, page = min(best, time.Since(s)), p
				}
				return best, page
			}
			first, page := timeList("")
			mid, midPage := timeList(fmt.Sprintf("user%06d@", n/2))
			if len(page) != 100 || len(midPage) != 100 || midPage[0].IMPI != fmt.Sprintf("user%06d@ims.mnc001.mcc001.3gppnetwork.org", n/2) {
				t.Fatalf("pages wrong: %d %d", len(page), len(midPage))
			}
			t.Logf("list: first page %v, middle page %v (100 items)", first, mid)
			if first > 500*time.Millisecond || mid > 3*first+50*time.Millisecond {
				t.Fatalf("list too slow: first %v, middle %v", first, mid)
			}
		})
	}
}
