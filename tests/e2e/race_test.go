//go:build race

package e2e

// raceEnabled: the binaries are built with -race too, so that they reuse the packages the
// test binary was compiled with (build cache) and are checked for races as well.
const raceEnabled = true
