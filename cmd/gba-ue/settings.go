package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/opengba/opengba/internal/config"
	"github.com/opengba/opengba/ue"
)

// errUsage marks errors that exit with status 2.
var errUsage = errors.New("usage")

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

// profile is the YAML profile of --profile. Unknown keys are an error.
type profile struct {
	IMPI     string `yaml:"impi"`
	K        string `yaml:"k"`
	OPc      string `yaml:"opc"`
	OP       string `yaml:"op"`
	BSF      string `yaml:"bsf"`
	MEF      string `yaml:"mef"`
	SQNState string `yaml:"sqn_state"`
	Store    string `yaml:"store"`
	StoreKey string `yaml:"store_key"`
	UaID     string `yaml:"ua_id"`
}

// settings are the merged inputs of one run: defaults < profile < environment < flags.
type settings struct {
	profile
	profilePath string
	json        bool
	showKeys    bool
	timeout     time.Duration
	method      string
	data        string
	naf         string
}

// envNames maps profile fields to environment variables.
func (p *profile) envFields() []struct {
	name string
	dst  *string
} {
	return []struct {
		name string
		dst  *string
	}{
		{"GBA_IMPI", &p.IMPI}, {"GBA_K", &p.K}, {"GBA_OPC", &p.OPc}, {"GBA_OP", &p.OP},
		{"GBA_BSF", &p.BSF}, {"GBA_MEF", &p.MEF}, {"GBA_SQN_STATE", &p.SQNState},
		{"GBA_STORE", &p.Store}, {"GBA_STORE_KEY", &p.StoreKey}, {"GBA_UA_ID", &p.UaID},
	}
}

// newFlagSet declares the flags of a subcommand into s.
func newFlagSet(cmd string, s *settings, out io.Writer) (*flag.FlagSet, *profile) {
	fs := flag.NewFlagSet("gba-ue "+cmd, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { fmt.Fprint(out, usageText) }
	var f profile
	fs.StringVar(&s.profilePath, "profile", "", "YAML profile")
	fs.StringVar(&f.IMPI, "impi", "", "IMPI")
	fs.StringVar(&f.K, "k", "", "K, 32 hex digits")
	fs.StringVar(&f.OPc, "opc", "", "OPc, 32 hex digits")
	fs.StringVar(&f.OP, "op", "", "OP, 32 hex digits")
	fs.StringVar(&f.BSF, "bsf", "", "BSF URL")
	fs.StringVar(&f.SQNState, "sqn-state", "", "USIM SQN state file")
	fs.StringVar(&f.Store, "store", "", "bootstrap store file")
	fs.StringVar(&f.UaID, "ua-id", "", "Ua security protocol id, 10 hex digits")
	fs.BoolVar(&s.json, "json", false, "JSON output")
	fs.BoolVar(&s.showKeys, "show-keys", false, "print keys")
	fs.DurationVar(&s.timeout, "timeout", 30*time.Second, "overall timeout")
	switch cmd {
	case "bootstrap":
		fs.StringVar(&s.naf, "naf", "", "also derive Ks_NAF for this NAF FQDN")
	case "enrol":
		fs.StringVar(&f.MEF, "mef", "", "MEF URL")
	case "get":
		fs.StringVar(&s.method, "X", "GET", "HTTP method")
		fs.StringVar(&s.method, "method", "GET", "HTTP method")
		fs.StringVar(&s.data, "d", "", "request body")
		fs.StringVar(&s.data, "data", "", "request body")
	}
	return fs, &f
}

// parseArgs parses flags anywhere among the arguments and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// merge applies the profile, then the environment, then the flags that were set.
func (s *settings) merge(fs *flag.FlagSet, flags *profile, lookup func(string) (string, bool)) error {
	if s.profilePath != "" {
		p, err := loadProfile(s.profilePath, lookup)
		if err != nil {
			return err
		}
		s.profile = p
	}
	for _, f := range s.envFields() {
		if v, ok := lookup(f.name); ok && v != "" {
			*f.dst = v
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, pair := range map[string][2]*string{
		"impi": {&s.IMPI, &flags.IMPI}, "k": {&s.K, &flags.K}, "opc": {&s.OPc, &flags.OPc}, "op": {&s.OP, &flags.OP},
		"bsf": {&s.BSF, &flags.BSF}, "mef": {&s.MEF, &flags.MEF}, "sqn-state": {&s.SQNState, &flags.SQNState},
		"store": {&s.Store, &flags.Store}, "ua-id": {&s.UaID, &flags.UaID},
	} {
		if set[name] {
			*pair[0] = *pair[1]
		}
	}
	if s.timeout <= 0 {
		return usageErr("--timeout must be positive")
	}
	return nil
}

// loadProfile reads a strict YAML profile, expanding ${VAR} from the environment
// (internal/config: an unset variable is an error, comments are not expanded).
func loadProfile(path string, lookup func(string) (string, bool)) (profile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return profile{}, usageErr("profile: %v", err)
	}
	var p profile
	// The project's one YAML loader: ${VAR} outside comments, strict keys, one document.
	if err := config.Parse(path, raw, &p, config.Options{Lookup: lookup}); err != nil {
		return profile{}, usageErr("profile: %v", err)
	}
	return p, nil
}

// newUSIM builds the emulated USIM from the identity settings.
func (s *settings) newUSIM() (*ue.USIM, error) {
	switch {
	case s.IMPI == "":
		return nil, usageErr("no IMPI: use --impi, GBA_IMPI or a profile")
	case s.K == "":
		return nil, usageErr("no K: use --k, GBA_K or a profile")
	case s.OPc == "" && s.OP == "":
		return nil, usageErr("no OPc or OP: use --opc/--op, GBA_OPC/GBA_OP or a profile")
	case s.OPc != "" && s.OP != "":
		return nil, usageErr("give OPc or OP, not both")
	}
	k, err := ue.ParseKey128(s.K)
	if err != nil {
		return nil, usageErr("K: %v", err)
	}
	if s.OPc != "" {
		opc, err := ue.ParseKey128(s.OPc)
		if err != nil {
			return nil, usageErr("OPc: %v", err)
		}
		return ue.NewUSIM(s.IMPI, k, opc, nil)
	}
	op, err := ue.ParseKey128(s.OP)
	if err != nil {
		return nil, usageErr("OP: %v", err)
	}
	return ue.NewUSIMWithOP(s.IMPI, k, op, nil)
}

// uaID returns the configured Ua security protocol identifier (0 for the default).
func (s *settings) uaID() (ue.UaID, error) {
	if s.UaID == "" {
		return 0, nil
	}
	id, err := ue.ParseUaID(strings.TrimPrefix(s.UaID, "0x"))
	if err != nil {
		return 0, usageErr("--ua-id: %v", err)
	}
	return id, nil
}

// store returns the FileStore of --store, if any.
func (s *settings) store() (ue.Store, error) {
	if s.Store == "" {
		return nil, nil
	}
	if s.StoreKey == "" {
		return nil, usageErr("--store needs an AES key in GBA_STORE_KEY or the profile's store_key (32, 48 or 64 hex digits)")
	}
	key, err := hex.DecodeString(s.StoreKey)
	if err != nil {
		return nil, usageErr("store key is not hexadecimal")
	}
	st, err := ue.NewFileStore(s.Store, key)
	clear(key)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return st, nil
}
