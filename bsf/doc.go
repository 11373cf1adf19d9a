// Package bsf implements the Bootstrapping Server Function of 3GPP TS 33.220 V18 §4 with its Ub reference point of TS 24.109 Annex A (HTTP Digest AKA, RFC 3310) and the logic behind Zh and Zn of TS 29.109.
//
// Layering (ARCHITECTURE.md §2): ub.go is the HTTP transport (gin); bsf.go holds the logic on
// plain Go types; the ports are VectorSource (authentication vectors and GUSS over Zh, served by
// the Zh client in zh.go) and Store (bootstrapping sessions, store*.go). The Zn server (zn.go)
// calls BSF.BootstrappingInfo.
//
// # Pending challenges across several BSF instances
//
// A 401 challenge is remembered in a ChallengeStore until the UE answers it. Every nonce is
// single-use: the answer takes the entry out atomically (delete-on-read), so a replayed nonce
// finds nothing. With the in-memory table (memory and SQLite backends) the answer must reach
// the instance that issued the challenge: run one instance, or route Ub sticky per client
// connection or per IMPI. The Redis backend keeps pending challenges in Redis too (SET NX PX,
// then GETDEL), sealed with the key-encryption key, so any instance can finish a bootstrap
// that another one started.
package bsf
