package bsf

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseGUSS(t *testing.T) {
	g, err := parseGUSS([]byte(gussDoc))
	if err != nil {
		t.Fatal(err)
	}
	if g.lifetime != time.Hour || g.uiccType != "GBA" || len(g.uss) != 2 {
		t.Fatalf("parsed %+v", g)
	}
	if !strings.HasPrefix(string(g.uss[1].raw), `<uss id="2"`) || !strings.HasSuffix(string(g.uss[1].raw), "</uss>") {
		t.Errorf("raw USS %q", g.uss[1].raw)
	}
	bad := []struct{ name, doc string }{
		{"empty", ""},
		{"not XML", "<guss"},
		{"wrong root", "<gusss/>"},
		{"two roots", "<guss/><guss/>"},
		{"text outside", "<guss/>x"},
		{"DTD", `<!DOCTYPE guss [<!ENTITY x "y">]><guss/>`},
		{"negative lifeTime", "<guss><bsfInfo><lifeTime>-1</lifeTime></bsfInfo></guss>"},
		{"fractional lifeTime", "<guss><bsfInfo><lifeTime>1.5</lifeTime></bsfInfo></guss>"},
		{"uiccType", "<guss><bsfInfo><uiccType>SIM</uiccType></bsfInfo></guss>"},
		{"too long", "<guss>" + strings.Repeat(" ", MaxGUSSLen) + "</guss>"},
	}
	for _, tt := range bad {
		if _, err := parseGUSS([]byte(tt.doc)); !errors.Is(err, ErrInvalidGUSS) {
			t.Errorf("%s: %v, want ErrInvalidGUSS", tt.name, err)
		}
	}
	g, err = parseGUSS([]byte("<guss><bsfInfo><lifeTime>0</lifeTime></bsfInfo></guss>"))
	if err != nil || g.lifetime != 0 {
		t.Errorf("lifeTime 0 counts as absent: %v %v", g.lifetime, err)
	}
}

func TestUSSFor(t *testing.T) {
	g, _ := parseGUSS([]byte(gussDoc))
	doc, ok := g.ussFor("m2m")
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<ussList xmlns="uri:3gpp-gba"><uss id="1" type="0" nafGroup="m2m"><uids><uid>sip:user1@home1.net</uid></uids><flags><flag>1</flag></flags></uss></ussList>`
	if !ok || string(doc) != want {
		t.Errorf("ussFor(m2m) = %v\n%s\nwant\n%s", ok, doc, want)
	}
	if doc, ok := g.ussFor("nobody"); ok || doc != nil {
		t.Errorf("uncovered group: %v %s", ok, doc)
	}
	// A USS without nafGroup applies to every NAF; prefixed namespaces are carried over.
	g2, err := parseGUSS([]byte(`<g:guss xmlns:g="uri:3gpp-gba"><g:ussList><g:uss id="9"/></g:ussList></g:guss>`))
	if err != nil {
		t.Fatal(err)
	}
	doc, ok = g2.ussFor("anything")
	if !ok || !strings.Contains(string(doc), `<ussList xmlns:g="uri:3gpp-gba"><g:uss id="9"/></ussList>`) {
		t.Errorf("group-less USS: %v %s", ok, doc)
	}
	// No USS at all: nothing to send, the NAF is covered.
	g3, _ := parseGUSS([]byte(`<guss><bsfInfo><lifeTime>60</lifeTime></bsfInfo></guss>`))
	if doc, ok := g3.ussFor("m2m"); !ok || doc != nil {
		t.Errorf("no USS: %v %s", ok, doc)
	}
}

func TestGUSSCacheBounded(t *testing.T) {
	c := newGUSSCache(2)
	for _, k := range []string{"a", "b", "c"} {
		c.put(k, gussEntry{doc: []byte(k)})
	}
	if len(c.m) != 2 {
		t.Fatalf("cache holds %d entries, want 2", len(c.m))
	}
	if e, ok := c.get("c"); !ok || string(e.doc) != "c" {
		t.Error("latest entry missing")
	}
	off := newGUSSCache(0)
	off.put("a", gussEntry{})
	if _, ok := off.get("a"); ok {
		t.Error("disabled cache kept an entry")
	}
}
