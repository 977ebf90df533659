package cli

import (
	cueerrors "cuelang.org/go/cue/errors"
	"github.com/b24perm/b24perm/diag"
)

func cueErrDetail(err error) string {
	errs := cueerrors.Errors(err)
	if len(errs) == 0 {
		return err.Error()
	}
	f, a := errs[0].Msg()
	return sprintf(f, a...)
}

func cueErrRange(name string, err error) *diag.Range {
	for _, e := range cueerrors.Errors(err) {
		p := e.Position()
		if p.IsValid() {
			return &diag.Range{Filename: name, Start: diag.Pos{Line: p.Line(), Column: p.Column(), Byte: p.Offset()},
				End: diag.Pos{Line: p.Line(), Column: p.Column(), Byte: p.Offset()}}
		}
	}
	return &diag.Range{Filename: name, Start: diag.Pos{Line: 1, Column: 1}, End: diag.Pos{Line: 1, Column: 1}}
}
