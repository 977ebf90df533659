package state

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzLoad: any state file loads or is refused cleanly.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"format_version": 1, "lineage": "x", "serial": 3, "resources": {"crm_role.a": {"id": 1}}}`))
	f.Add([]byte(`{"format_version": 1, "lineage": "x", "serial": 3, "resources": {`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "state.json")
		os.WriteFile(path, b, 0o644)
		st, err := NewFileStore(path).Load()
		if err != nil {
			return
		}
		if st.Lineage == "" || st.Resources == nil {
			t.Fatalf("accepted a state without lineage/resources: %+v", st)
		}
		// What loads, saves and loads back the same (the canonical encoder
		// handles any content).
		if err := NewFileStore(path).Save(st); err != nil {
			t.Fatal(err)
		}
		again, err := NewFileStore(path).Load()
		if err != nil {
			t.Fatalf("a saved state does not load: %v", err)
		}
		if again.Lineage != st.Lineage || again.Serial != st.Serial || !reflect.DeepEqual(again.Resources, st.Resources) {
			t.Fatalf("round trip:\n%+v\n%+v", st, again)
		}
	})
}
