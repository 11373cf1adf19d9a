package hsssim

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ImportFormat is the file format of an import.
type ImportFormat int

// Import formats.
const (
	// FormatAuto picks by file extension, then by content.
	FormatAuto ImportFormat = iota
	// FormatYAML is a list of SubscriberSpec mappings, at the top level or under
	// "subscribers:".
	FormatYAML
	// FormatCSV has a header row naming the columns impi, impus, k, op, opc, amf, sqn, guss
	// (any order, any subset containing impi); impus are separated by ';'. Lines starting
	// with '#' are comments.
	FormatCSV
)

func (f ImportFormat) String() string {
	switch f {
	case FormatYAML:
		return "yaml"
	case FormatCSV:
		return "csv"
	}
	return "auto"
}

// DefaultImportBatch is how many rows one transaction commits.
const DefaultImportBatch = 500

// maxReportedErrors bounds ImportReport.Errors; Failed still counts every failure.
const maxReportedErrors = 1000

// ImportOptions control Import.
type ImportOptions struct {
	// Format of the input; FormatAuto detects it from the name and the content.
	Format ImportFormat
	// DryRun validates every row and checks for existing IMPIs without writing.
	DryRun bool
	// SkipExisting counts a row whose IMPI is already in the store as skipped (the stored
	// subscriber is left as it is, not compared) instead of failed, so that re-running an
	// import is harmless. An IMPI repeated within the input still fails.
	SkipExisting bool
	// BatchSize is the number of rows per transaction (default DefaultImportBatch).
	BatchSize int
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// RowError is the failure of one input row.
type RowError struct {
	// Line is the 1-based line where the row starts.
	Line int
	// IMPI is the row's IMPI if it could be read.
	IMPI string
	Err  error
}

func (e RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the cause.
func (e RowError) Unwrap() error { return e.Err }

// ImportReport summarises an import.
type ImportReport struct {
	Format ImportFormat
	DryRun bool
	// Rows is the number of data rows read; Imported + Skipped + Failed = Rows. In a dry
	// run Imported and Skipped count the rows that would be imported or skipped. Skipped
	// is 0 unless ImportOptions.SkipExisting.
	Rows, Imported, Skipped, Failed int
	// Errors lists the first failures (up to 1000) with their line numbers, in line order.
	Errors []RowError
}

// DetectFormat picks a format from the file name extension, then from the content: a
// first meaningful line with a comma and no "key:" is CSV, anything else YAML.
func DetectFormat(name string, head []byte) ImportFormat {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return FormatYAML
	case ".csv":
		return FormatCSV
	}
	sc := bufio.NewScanner(bytes.NewReader(head))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || line == "---" {
			continue
		}
		comma := strings.IndexByte(line, ',')
		colon := strings.IndexByte(line, ':')
		if comma >= 0 && (colon < 0 || comma < colon) && !strings.HasPrefix(line, "-") {
			return FormatCSV
		}
		return FormatYAML
	}
	return FormatYAML
}

// importRow is one parsed input row.
type importRow struct {
	line int
	spec SubscriberSpec
	err  error
}

// Import reads subscribers from r and creates them in store, batching BatchSize rows per
// transaction when the store is a BatchCreator. Bad rows (malformed fields, duplicate
// IMPIs in the file or, unless opts.SkipExisting, in the store) are reported with their
// line numbers and skipped; the returned error is reserved for failures that stop the
// import (unreadable input, a store failure), in which case the report covers the rows
// handled so far.
func Import(ctx context.Context, store Store, r io.Reader, name string, opts ImportOptions) (ImportReport, error) {
	now := nowFunc(opts.Now)
	batchSize := opts.BatchSize
	if batchSize <= 0 {
		batchSize = DefaultImportBatch
	}
	br := bufio.NewReaderSize(r, 64<<10)
	format := opts.Format
	if format == FormatAuto {
		head, _ := br.Peek(4096)
		format = DetectFormat(name, head)
	}
	rep := ImportReport{Format: format, DryRun: opts.DryRun}
	imp := &importer{ctx: ctx, store: store, dryRun: opts.DryRun, skipExisting: opts.SkipExisting,
		now: now, rep: &rep, seen: make(map[string]int), batchSize: batchSize}
	var err error
	switch format {
	case FormatCSV:
		err = readCSV(br, imp.add)
	case FormatYAML:
		err = readYAML(br, imp.add)
	default:
		err = fmt.Errorf("hsssim: import: unknown format %d", format)
	}
	if err == nil {
		err = imp.flush()
	}
	slices.SortStableFunc(rep.Errors, func(a, b RowError) int { return cmp.Compare(a.Line, b.Line) })
	return rep, err
}

type importer struct {
	ctx          context.Context
	store        Store
	dryRun       bool
	skipExisting bool
	now          func() time.Time
	rep          *ImportReport
	seen         map[string]int // IMPI → line of first occurrence
	batchSize    int
	batch        []*Subscriber
	lines        []int
}

func (im *importer) fail(line int, impi string, err error) {
	im.rep.Failed++
	if len(im.rep.Errors) < maxReportedErrors {
		im.rep.Errors = append(im.rep.Errors, RowError{Line: line, IMPI: impi, Err: err})
	}
}

// add handles one parsed row; a non-nil return stops the import.
func (im *importer) add(row importRow) error {
	if err := im.ctx.Err(); err != nil {
		return err
	}
	im.rep.Rows++
	if row.err != nil {
		im.fail(row.line, row.spec.IMPI, row.err)
		return nil
	}
	s, err := row.spec.Build(im.now())
	if err != nil {
		im.fail(row.line, row.spec.IMPI, err)
		return nil
	}
	if first, dup := im.seen[s.IMPI]; dup {
		im.fail(row.line, s.IMPI, fmt.Errorf("%w: duplicate of line %d", ErrExists, first))
		return nil
	}
	im.seen[s.IMPI] = row.line
	im.batch = append(im.batch, s)
	im.lines = append(im.lines, row.line)
	if len(im.batch) >= im.batchSize {
		return im.flush()
	}
	return nil
}

func (im *importer) flush() error {
	if len(im.batch) == 0 {
		return nil
	}
	errs := make([]error, len(im.batch))
	switch bc, ok := im.store.(BatchCreator); {
	case im.dryRun:
		for i, s := range im.batch {
			_, err := im.store.Get(im.ctx, s.IMPI)
			switch {
			case err == nil:
				errs[i] = fmt.Errorf("%w: in the store", ErrExists)
			case errors.Is(err, ErrUnknownIMPI):
			default:
				return fmt.Errorf("hsssim: import: %w", err)
			}
		}
	case ok:
		var err error
		if errs, err = bc.CreateBatch(im.ctx, im.batch); err != nil {
			return fmt.Errorf("hsssim: import: %w", err)
		}
	default:
		for i, s := range im.batch {
			err := im.store.Create(im.ctx, s)
			if err != nil && !errors.Is(err, ErrExists) && !errors.Is(err, ErrInvalid) {
				return fmt.Errorf("hsssim: import: %w", err)
			}
			errs[i] = err
		}
	}
	for i, err := range errs {
		switch {
		case err == nil:
			im.rep.Imported++
		case im.skipExisting && errors.Is(err, ErrExists):
			// The store's ErrExists: duplicates within the input failed in add.
			im.rep.Skipped++
		default:
			im.fail(im.lines[i], im.batch[i].IMPI, err)
		}
	}
	im.batch, im.lines = im.batch[:0], im.lines[:0]
	return nil
}

// isSpecField reports whether name is a SubscriberSpec field (CSV column or YAML key).
func isSpecField(name string) bool {
	switch name {
	case "impi", "impus", "k", "op", "opc", "amf", "sqn", "guss":
		return true
	}
	return false
}

func readCSV(r io.Reader, add func(importRow) error) error {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("hsssim: import: csv header: %w", err)
	}
	cols := make([]string, len(header))
	have := map[string]bool{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !isSpecField(h) {
			return fmt.Errorf("hsssim: import: csv header: unknown column %q", h)
		}
		if have[h] {
			return fmt.Errorf("hsssim: import: csv header: duplicate column %q", h)
		}
		have[h] = true
		cols[i] = h
	}
	if !have["impi"] {
		return errors.New("hsssim: import: csv header: no impi column")
	}
	cr.FieldsPerRecord = len(cols)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var pe *csv.ParseError
		if err != nil && errors.As(err, &pe) {
			if err := add(importRow{line: pe.StartLine, err: fmt.Errorf("%w: csv: %w", ErrInvalid, pe.Err)}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("hsssim: import: %w", err)
		}
		line, _ := cr.FieldPos(0)
		var spec SubscriberSpec
		for i, v := range rec {
			v = strings.TrimSpace(v)
			switch cols[i] {
			case "impi":
				spec.IMPI = v
			case "impus":
				for _, u := range strings.Split(v, ";") {
					if u = strings.TrimSpace(u); u != "" {
						spec.IMPUs = append(spec.IMPUs, u)
					}
				}
			case "k":
				spec.K = v
			case "op":
				spec.OP = v
			case "opc":
				spec.OPc = v
			case "amf":
				spec.AMF = v
			case "sqn":
				spec.SQN = v
			case "guss":
				spec.GUSS = v
			}
		}
		if err := add(importRow{line: line, spec: spec}); err != nil {
			return err
		}
	}
}

func readYAML(r io.Reader, add func(importRow) error) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(r).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("hsssim: import: yaml: %w", err)
	}
	list := &doc
	if list.Kind == yaml.DocumentNode && len(list.Content) == 1 {
		list = list.Content[0]
	}
	if list.Kind == yaml.MappingNode {
		var found *yaml.Node
		for i := 0; i+1 < len(list.Content); i += 2 {
			if k := list.Content[i]; k.Value == "subscribers" {
				found = list.Content[i+1]
			} else {
				return fmt.Errorf("hsssim: import: yaml line %d: unknown key %q (want subscribers)", k.Line, k.Value)
			}
		}
		if found == nil {
			return errors.New("hsssim: import: yaml: no subscribers list")
		}
		list = found
	}
	if list.Kind != yaml.SequenceNode {
		return fmt.Errorf("hsssim: import: yaml line %d: want a list of subscribers", list.Line)
	}
	for _, item := range list.Content {
		row := importRow{line: item.Line}
		row.spec, row.err = yamlSpec(item)
		if err := add(row); err != nil {
			return err
		}
	}
	return nil
}

func yamlSpec(n *yaml.Node) (SubscriberSpec, error) {
	var spec SubscriberSpec
	if n.Kind != yaml.MappingNode {
		return spec, fieldErr("row", "want a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !isSpecField(k.Value) {
			return spec, fieldErr(k.Value, "unknown field")
		}
		if k.Value == "impus" {
			switch v.Kind {
			case yaml.ScalarNode: // a single IMPU may be given as a scalar
				if v.Tag != "!!null" {
					spec.IMPUs = []string{v.Value}
				}
			case yaml.SequenceNode:
				for _, u := range v.Content {
					if u.Kind != yaml.ScalarNode {
						return spec, fieldErr("impus", "want a list of strings")
					}
					spec.IMPUs = append(spec.IMPUs, u.Value)
				}
			default:
				return spec, fieldErr("impus", "want a list of strings")
			}
			continue
		}
		if v.Kind != yaml.ScalarNode {
			return spec, fieldErr(k.Value, "want a scalar")
		}
		val := v.Value
		if v.Tag == "!!null" {
			val = ""
		}
		switch k.Value {
		case "impi":
			spec.IMPI = val
		case "k":
			spec.K = val
		case "op":
			spec.OP = val
		case "opc":
			spec.OPc = val
		case "amf":
			spec.AMF = val
		case "sqn":
			spec.SQN = val
		case "guss":
			spec.GUSS = val
		}
	}
	return spec, nil
}
