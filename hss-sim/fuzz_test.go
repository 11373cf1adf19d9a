package hsssim

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParseGUSS: the GUSS document arrives over the provisioning API.
func FuzzParseGUSS(f *testing.F) {
	for _, s := range []string{
		`<guss id="user1_private@home1.net"><bsfInfo><uiccType>GBA</uiccType><lifeTime>3600</lifeTime></bsfInfo><ussList><uss id="1" type="0" nafGroup="m2m"><uids><uid>sip:user1@home1.net</uid></uids><flags><flag>1</flag></flags></uss></ussList></guss>`,
		`<?xml version="1.0"?><guss xmlns="uri:3gpp-gba"/>`,
		`<!DOCTYPE guss><guss/>`,
		`<guss><bsfInfo><lifeTime>-1</lifeTime></bsfInfo></guss>`,
		`<guss/><guss/>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		g, err := ParseGUSS(doc)
		if err == nil && g == nil {
			t.Fatal("nil GUSS without error")
		}
		if err == nil && ValidateGUSS(doc) != nil {
			t.Fatal("ParseGUSS and ValidateGUSS disagree")
		}
	})
}

// FuzzSubscriberSpec: provisioning bodies (JSON) turned into records.
func FuzzSubscriberSpec(f *testing.F) {
	f.Add([]byte(`{"impi":"user1_private@home1.net","impus":["sip:user1@home1.net"],"k":"465b5ce8b199b49faa5f0a2ee238a6bc","op":"cdc202d5123e20f62b6d676ac72cb318","amf":"b9b9","sqn":"ff9bb4d0b607"}`))
	f.Add([]byte(`{"impi":"a@h","k":"465b5ce8b199b49faa5f0a2ee238a6bc","opc":"cd63cb71954a9f4e48a5994e37a02baf","guss":"<guss/>"}`))
	f.Add([]byte(`{"impi":"a b","k":"zz"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var spec SubscriberSpec
		if json.Unmarshal(body, &spec) != nil {
			return
		}
		s, err := spec.Build(time.Unix(1, 0))
		if err != nil {
			if spec.K != "" && len(spec.K) >= 8 && strings.Contains(err.Error(), spec.K) {
				t.Fatalf("error repeats K: %v", err)
			}
			return
		}
		if err := validateRecord(s); err != nil {
			t.Fatalf("Build accepted what the store rejects: %v", err)
		}
		var patched Subscriber = *s
		_ = spec.Apply(&patched, time.Unix(2, 0))
	})
}

// FuzzImport: import files (CSV and YAML) never panic and always account for every row.
func FuzzImport(f *testing.F) {
	for _, name := range []string{"testdata/subscribers.csv", "testdata/subscribers.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, strings.HasSuffix(name, ".csv"))
	}
	f.Add([]byte("impi\n\"a\nb\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, csv bool) {
		st, err := NewMemoryStore(DefaultSQNConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		format := FormatYAML
		if csv {
			format = FormatCSV
		}
		rep, err := Import(context.Background(), st, bytes.NewReader(data), "fuzz", ImportOptions{Format: format})
		if err != nil {
			return
		}
		if rep.Rows != rep.Imported+rep.Failed {
			t.Fatalf("rows %d != imported %d + failed %d", rep.Rows, rep.Imported, rep.Failed)
		}
		if n, _ := st.Count(context.Background()); n != rep.Imported {
			t.Fatalf("store has %d, report says %d", n, rep.Imported)
		}
	})
}
