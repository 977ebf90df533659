package compiler

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Document is the decoded policy: the same shape in CUE and HCL. It is the
// input of the Go checks and of graph construction.
type Document struct {
	CRM struct {
		SmartProcesses map[string]struct {
			Name string `json:"name"`
		} `json:"smart_processes"`
		Pipelines map[string]map[string]PipelineDoc `json:"pipelines"`
		Roles     map[string]CRMRoleDoc             `json:"roles"`
	} `json:"crm"`
	Telephony struct {
		// Security is "off" on a cloud plan without the
		// voximplant_security feature: Bitrix then ignores the roles and
		// applies its defaults. Default "on".
		Security string                   `json:"security"`
		Roles    map[string]SimpleRoleDoc `json:"roles"`
	} `json:"telephony"`
	Openlines struct {
		Roles    map[string]SimpleRoleDoc  `json:"roles"`
		Channels map[string]OpenChannelDoc `json:"channels"`
	} `json:"openlines"`
	Workgroups map[string]WorkgroupDoc `json:"workgroups"`
	Fields     struct {
		Rules      map[string]FieldRuleDoc       `json:"rules"`
		Visibility map[string]FieldVisibilityDoc `json:"visibility"`
	} `json:"fields"`
	Settings *struct {
		Mode            map[string]string `json:"mode"`
		Protect         []string          `json:"protect"`
		SensitiveFields []string          `json:"sensitive_fields"`
	} `json:"settings"`
	Removed []struct {
		Address string `json:"address"`
		Reason  string `json:"reason"`
	} `json:"removed"`
	Tests []TestDoc `json:"tests"`
}

// PipelineDoc is a declared pipeline.
type PipelineDoc struct {
	Name   string `json:"name"`
	Stages map[string]struct {
		Name string `json:"name"`
	} `json:"stages"`
}

// SubjectDoc is a subject as written.
type SubjectDoc struct {
	User           *string `json:"user"`
	Department     *string `json:"department"`
	Subdepartments bool    `json:"subdepartments"`
	Group          *string `json:"group"`
	Workgroup      *string `json:"workgroup"`
	Members        string  `json:"members"`
	Code           *string `json:"code"`
}

// CRMRoleDoc is a CRM role as written.
type CRMRoleDoc struct {
	Name        string                    `json:"name"`
	Assign      []SubjectDoc              `json:"assign"`
	Permissions map[string]EntityPermsDoc `json:"permissions"`
}

// Actions maps action → level; transition lists are joined with ",".
type Actions map[string]string

// UnmarshalJSON accepts strings and, for transition, lists of stage keys.
func (a *Actions) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*a = Actions{}
	for k, v := range raw {
		l, err := decodeLevel(v)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		(*a)[k] = l
	}
	return nil
}

func decodeLevel(v json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		if strings.HasPrefix(s, "[") {
			// Not a level name (the schema says so): kept apart from a
			// list, which listLevel also writes with brackets, so that
			// chainLevelsValid cannot take the string for a list.
			return "\x00" + s, nil
		}
		return s, nil
	}
	var list []string
	if err := json.Unmarshal(v, &list); err != nil {
		return "", fmt.Errorf("want a level, a list of level-set members or a list of stage keys")
	}
	sort.Strings(list)
	return listLevel(list), nil
}

// listLevel marks a level written as a list ("[a,b]", sorted): the
// builder reads it as a set of level members or as transition targets,
// by action (see builder.levelOf).
func listLevel(items []string) string { return "[" + strings.Join(items, ",") + "]" }

// parseListLevel is the inverse of listLevel.
func parseListLevel(l string) ([]string, bool) {
	inner, ok := strings.CutPrefix(l, "[")
	if !ok {
		return nil, false
	}
	inner, ok = strings.CutSuffix(inner, "]")
	if !ok {
		return nil, false
	}
	if inner == "" {
		return []string{}, true
	}
	return strings.Split(inner, ","), true
}

// EntityPermsDoc is the permissions of one entity: actions at entity level
// plus pipeline and stage overrides.
type EntityPermsDoc struct {
	Actions   Actions
	Pipelines map[string]PipelinePermsDoc
	Stages    map[string]Actions
}

// PipelinePermsDoc is one pipeline's override.
type PipelinePermsDoc struct {
	Actions Actions
	Stages  map[string]Actions
}

// The CRM permission documents decode in one pass over their JSON with
// permScan: with a custom decoder per level (entity, pipeline, stage),
// encoding/json would scan each nested value again at every level.

// UnmarshalJSON splits actions from pipelines/stages.
func (e *EntityPermsDoc) UnmarshalJSON(b []byte) error {
	s := permScan{jsonScan: jsonScan{b: b}}
	*e = EntityPermsDoc{}
	return s.done(s.perms(&e.Actions, &e.Pipelines, &e.Stages))
}

// UnmarshalJSON splits actions from stages.
func (p *PipelinePermsDoc) UnmarshalJSON(b []byte) error {
	s := permScan{jsonScan: jsonScan{b: b}}
	*p = PipelinePermsDoc{}
	return s.done(s.perms(&p.Actions, nil, &p.Stages))
}

// permScan decodes permission documents; it extends jsonScan.
type permScan struct{ jsonScan }

func (s *permScan) done(err error) error {
	if err != nil {
		return err
	}
	if s.peek() != 0 || s.i != len(s.b) {
		return fmt.Errorf("unexpected data after the value")
	}
	return nil
}

// perms decodes {action: level, …, pipelines: {…}, stages: {…}} as the
// former decoders did: an entity level has both, a pipeline level has
// stages (a "pipelines" key there is skipped: the schema reports it), a
// stage level (stages nil) has only actions.
func (s *permScan) perms(acts *Actions, pipelines *map[string]PipelinePermsDoc, stages *map[string]Actions) error {
	*acts = Actions{}
	return s.object(func(k string) error {
		switch {
		case k == "pipelines" && pipelines == nil && stages != nil:
			if !s.skipValue() {
				return fmt.Errorf("malformed value")
			}
			return nil
		case k == "pipelines" && pipelines != nil:
			*pipelines = map[string]PipelinePermsDoc{}
			return s.object(func(pk string) error {
				var p PipelinePermsDoc
				if err := s.perms(&p.Actions, nil, &p.Stages); err != nil {
					return err
				}
				(*pipelines)[pk] = p
				return nil
			})
		case k == "stages" && stages != nil:
			*stages = map[string]Actions{}
			return s.object(func(sk string) error {
				var a Actions
				if err := s.perms(&a, nil, nil); err != nil {
					return err
				}
				(*stages)[sk] = a
				return nil
			})
		}
		l, err := s.level()
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		(*acts)[k] = l
		return nil
	})
}

// object decodes an object (or null, as no members) with f per member.
func (s *permScan) object(f func(key string) error) error {
	if s.null() {
		return nil
	}
	var err error
	if !s.members(func(k string) bool { err = f(k); return err == nil }) && err == nil {
		err = fmt.Errorf("want an object")
	}
	return err
}

// level decodes a level as decodeLevel does.
func (s *permScan) level() (string, error) {
	errWant := fmt.Errorf("want a level, a list of level-set members or a list of stage keys")
	switch s.peek() {
	case 'n':
		if s.null() {
			return "", nil
		}
	case '"':
		v, ok := s.str()
		if !ok {
			return "", errWant
		}
		if strings.HasPrefix(v, "[") {
			return "\x00" + v, nil
		}
		return v, nil
	case '[':
		list := []string{}
		ok := s.elements(func() bool {
			if s.null() {
				list = append(list, "")
				return true
			}
			v, ok := s.str()
			list = append(list, v)
			return ok
		})
		if !ok {
			return "", errWant
		}
		sort.Strings(list)
		return listLevel(list), nil
	}
	return "", errWant
}

// SimpleRoleDoc is a telephony or open-channel role.
type SimpleRoleDoc struct {
	Name        string                       `json:"name"`
	Assign      []SubjectDoc                 `json:"assign"`
	Permissions map[string]map[string]string `json:"permissions"`
}

// WorkgroupDoc is a workgroup as written.
// OpenChannelDoc is an open-channel configuration; Active defaults to true.
type OpenChannelDoc struct {
	Name      string       `json:"name"`
	Active    *bool        `json:"active"`
	QueueType string       `json:"queue_type"`
	Queue     []SubjectDoc `json:"queue"`
}

type WorkgroupDoc struct {
	Name       string `json:"name"`
	Visibility string `json:"visibility"`
	Archived   bool   `json:"archived"`
	// DisabledFeatures are the features switched off in the group.
	DisabledFeatures []string                     `json:"disabled_features"`
	Owner            string                       `json:"owner"`
	Moderators       []string                     `json:"moderators"`
	Members          []string                     `json:"members"`
	Features         map[string]map[string]string `json:"features"`
}

// FieldRuleDoc is a field rule.
type FieldRuleDoc struct {
	Entity   string       `json:"entity"`
	Pipeline string       `json:"pipeline"`
	Field    string       `json:"field"`
	Stages   []string     `json:"stages"`
	View     []SubjectDoc `json:"view"`
	Edit     []SubjectDoc `json:"edit"`
}

// FieldVisibilityDoc is a native custom-field visibility rule.
type FieldVisibilityDoc struct {
	Entity string       `json:"entity"`
	Field  string       `json:"field"`
	View   []SubjectDoc `json:"view"`
}

// TestDoc is a permission assertion.
type TestDoc struct {
	Name          string `json:"name"`
	User          string `json:"user"`
	NobodyOutside string `json:"nobody_outside"`
	Can           string `json:"can"`
	Cannot        string `json:"cannot"`
	Entity        string `json:"entity"`
	Item          string `json:"item"`
	Pipeline      string `json:"pipeline"`
	Stage         string `json:"stage"`
	To            string `json:"to"`
	Field         string `json:"field"`
	Level         string `json:"level"`
	Exactly       bool   `json:"exactly"`
}
