package access

import (
	"reflect"
	"testing"

	"github.com/b24perm/b24perm/gen"
	"github.com/b24perm/b24perm/graph"
)

// TestNameSource: the compact name source gives NewNames the same names
// as the graph it was taken from.
func TestNameSource(t *testing.T) {
	g := gen.Generate(gen.Sizes["s"], 3)
	g.SmartProcesses = []graph.SmartProcess{{Key: "invoice2", Name: "Invoice 2"}}
	pol := gen.Generate(gen.Sizes["s"], 4)
	want := NewNames(g.Directory, pol, g)
	got := NewNames(g.Directory, pol, NameSource(g))
	if !reflect.DeepEqual(want, got) {
		t.Errorf("names differ:\n got %+v\nwant %+v", got, want)
	}
	if NameSource(nil) != nil {
		t.Error("NameSource(nil) is not nil")
	}
}
