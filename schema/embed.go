// Package schema embeds the CUE schema of the policy language, the single
// source of truth for what a policy may contain. The compiler overlays it
// into the user's package; `b24perm schema` prints it or exports it as JSON
// Schema.
package schema

import _ "embed"

// Source is the CUE schema (definitions only, no package clause).
//
//go:embed policy.cue
var Source string

// Filename is how diagnostics name the schema when they must.
const Filename = "<builtin schema>/policy.cue"
