package plan

import (
	"slices"
	"strings"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/state"
)

// FeaturesKey is the state entry that records an administrator's
// confirmation of a workgroup's feature permissions, for backends that
// can neither read nor set them (REST).
func FeaturesKey(workgroup string) string { return "workgroup." + workgroup + "#features" }

// IsFeaturesKey reports whether an address is a FeaturesKey.
func IsFeaturesKey(address string) bool { return strings.HasSuffix(address, "#features") }

// FeaturesFingerprint identifies a workgroup's feature permissions.
func FeaturesFingerprint(w *graph.Workgroup) string {
	return graph.Resource{Workgroup: &graph.Workgroup{Features: w.Features}}.Fingerprint()
}

// overlayConfirmedFeatures takes, for every workgroup whose declared
// feature permissions an administrator confirmed (the state records
// their fingerprint), the declared ones as live. live is re-keyed.
func overlayConfirmedFeatures(desired, live *graph.Graph, recorded map[string]state.Resource) *graph.Graph {
	out := *live
	out.Workgroups = slices.Clone(live.Workgroups)
	for _, d := range desired.Workgroups {
		rec, ok := recorded[FeaturesKey(d.Key)]
		if !ok || rec.Fingerprint != FeaturesFingerprint(&d) {
			continue
		}
		for i := range out.Workgroups {
			if out.Workgroups[i].Key == d.Key {
				out.Workgroups[i].Features = slices.Clone(d.Features)
			}
		}
	}
	return &out
}

// splitFeatureChanges moves workgroup feature-permission changes, which the
// backend cannot make, into manual changes of their own ("workgroup.K#features")
// whose baseline is unknown: the backend cannot read them either.
func splitFeatureChanges(changes []Change, names map[string]string, why string) []Change {
	var out []Change
	for _, ch := range changes {
		if ch.Addr.Kind != graph.KindWorkgroup || ch.Manual || ch.Action == Delete {
			out = append(out, ch)
			continue
		}
		var auto, manual []AttrChange
		for _, a := range ch.Attrs {
			if a.Kind == AttrFeature {
				manual = append(manual, a)
			} else {
				auto = append(auto, a)
			}
		}
		if len(manual) == 0 {
			out = append(out, ch)
			continue
		}
		if len(auto) > 0 || ch.Action == Create {
			a := ch
			a.Attrs = auto
			out = append(out, a)
		}
		m := ch
		m.Action, m.Attrs, m.Manual = Update, manual, true
		m.Address = FeaturesKey(ch.Addr.Key)
		m.ManualSteps = DefaultManualSteps(m, names)
		// Unless confirmed (then the overlay made them equal), what the
		// portal holds is unknown.
		m.Baseline = &Baseline{Source: BaselineUnknown, Note: "feature permissions " + why}
		out = append(out, m)
	}
	return out
}
