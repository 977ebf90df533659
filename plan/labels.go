package plan

import (
	"fmt"
	"strings"

	"github.com/b24perm/b24perm/graph"
)

// EntityLabel is the plural UI name of a CRM entity.
func EntityLabel(entity string, names map[string]string) string {
	if n, ok := names[entity]; ok && strings.HasPrefix(entity, graph.SmartProcessPrefix) {
		return n
	}
	switch entity {
	case "lead":
		return "Lead"
	case "deal":
		return "Deal"
	case "contact":
		return "Contact"
	case "company":
		return "Company"
	case "quote":
		return "Quote"
	case "invoice":
		return "Invoice (old)"
	case "smart_invoice":
		return "Invoice"
	case "config":
		return "CRM settings"
	}
	if e, ok := graph.LookupCRMEntity(entity); ok {
		return e.Label
	}
	return entity
}

// LevelLabel is the access-permissions UI wording of a CRM level.
func LevelLabel(level string) string {
	switch level {
	case "none":
		return "Access denied"
	case "own":
		return "Personal"
	case "department":
		return "Personal and department"
	case "subdepartments":
		return "Personal, department and subdepartment"
	case "open":
		return "All open"
	case "all":
		return "All"
	case "any":
		return "Any"
	}
	return level
}

// CellLabel renders a CRM cell: Deal · pipeline "Wholesale" · stage "Won" · write.
func CellLabel(k graph.CellKey, names map[string]string) string {
	parts := []string{EntityLabel(k.Entity, names)}
	if k.Pipeline != "" && !(k.Pipeline == graph.DefaultPipeline && k.Entity == "lead") {
		n := names[k.Entity+"/"+k.Pipeline]
		if n == "" {
			n = k.Pipeline
		}
		parts = append(parts, fmt.Sprintf("pipeline %q", n))
	}
	if k.Stage != "" {
		n := names[k.Entity+"/"+k.Pipeline+"/"+k.Stage]
		if n == "" {
			n = k.Stage
		}
		parts = append(parts, fmt.Sprintf("stage %q", n))
	}
	return strings.Join(append(parts, k.Action), " · ")
}

// SimpleCellLabel renders a telephony/open-channel cell.
func SimpleCellLabel(kind graph.Kind, entity, action string) string {
	table := graph.TelephonyActions
	if kind == graph.KindOpenline {
		table = graph.OpenlineActions
	}
	if a, ok := graph.LookupSimple(table, entity, action); ok {
		return a.Label
	}
	return entity + " · " + action
}

// SubjectLabel renders a canonical subject for humans.
func SubjectLabel(s string) string {
	sub, err := graph.ParseSubject(s)
	if err != nil {
		return s
	}
	return sub.Label()
}

func kindNoun(k graph.Kind) string {
	switch k {
	case graph.KindCRMRole:
		return "CRM role"
	case graph.KindTelephony:
		return "telephony role"
	case graph.KindOpenline:
		return "open-channel role"
	case graph.KindWorkgroup:
		return "workgroup"
	case graph.KindOpenChannel:
		return "open channel"
	case graph.KindFieldRule:
		return "field rule"
	case graph.KindPipeline:
		return "pipeline"
	case graph.KindSmartProcess:
		return "smart process"
	}
	return string(k)
}

// DefaultManualSteps describes, for an administrator, how to make a change
// in the Bitrix24 UI.
func DefaultManualSteps(ch Change, names map[string]string) []string {
	menu := manualMenu(ch.Addr.Kind)
	switch ch.Action {
	case Create:
		steps := []string{fmt.Sprintf("%s → add %s %q", menu, kindNoun(ch.Addr.Kind), ch.Name)}
		for _, a := range ch.Attrs {
			steps = append(steps, fmt.Sprintf("%s → %s %q: %s", menu, kindNoun(ch.Addr.Kind), ch.Name, attrStep(ch.Addr.Kind, a, names)))
		}
		return steps
	case Delete:
		return []string{fmt.Sprintf("%s → delete %s %q", menu, kindNoun(ch.Addr.Kind), ch.Name)}
	}
	var steps []string
	for _, a := range ch.Attrs {
		steps = append(steps, fmt.Sprintf("%s → %s %q: %s", menu, kindNoun(ch.Addr.Kind), ch.Name, attrStep(ch.Addr.Kind, a, names)))
	}
	return steps
}

func attrStep(kind graph.Kind, a AttrChange, names map[string]string) string {
	switch a.Kind {
	case AttrCell:
		if kind == graph.KindCRMRole && a.Cell != nil {
			if a.AfterInherited {
				return CellLabel(*a.Cell, names) + " = Inherit"
			}
			return fmt.Sprintf("%s = %q", CellLabel(*a.Cell, names), LevelLabel(a.After))
		}
		if a.Cell != nil {
			return fmt.Sprintf("%s = %q", SimpleCellLabel(kind, a.Cell.Entity, a.Cell.Action), LevelLabel(a.After))
		}
	case AttrAssign, AttrMember:
		if a.Action == Delete {
			return "remove " + SubjectLabel(a.Before)
		}
		return "add " + SubjectLabel(a.After)
	case AttrOrder:
		if a.Path == "stage order" {
			return "put the stages in this order: " + queueLabels(a.After)
		}
		return "put the queue in this order: " + queueLabels(a.After)
	}
	if a.Action == Delete {
		return "remove " + a.Path + " " + a.Before
	}
	return fmt.Sprintf("set %s to %q", a.Path, a.After)
}

// manualMenu is where in the Bitrix24 UI objects of a kind are edited.
func manualMenu(k graph.Kind) string {
	var menu string
	switch k {
	case graph.KindCRMRole:
		menu = "CRM → Settings → Access permissions"
	case graph.KindTelephony:
		menu = "Telephony → Settings → Access permissions"
	case graph.KindOpenline:
		menu = "Contact Center → Open Channels → Access permissions"
	case graph.KindWorkgroup:
		menu = "Workgroups → the group → Settings"
	case graph.KindOpenChannel:
		menu = "Contact Center → Open Channels → the channel → Queue"
	case graph.KindFieldRule:
		menu = "CRM → Settings → Field access"
	default:
		menu = "CRM → Settings → CRM structure"
	}
	return menu
}
