package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"go.yaml.in/yaml/v3"
)

// The workflow files and action.yml are the spec of what CI runs; the
// testscripts run their steps (workflowStep) instead of a copy of the
// commands, so that a changed workflow is tested as it is.

type ghStep struct {
	ID    string            `yaml:"id"`
	Name  string            `yaml:"name"`
	Uses  string            `yaml:"uses"`
	Run   string            `yaml:"run"`
	Shell string            `yaml:"shell"`
	Env   map[string]string `yaml:"env"`
	With  map[string]string `yaml:"with"`
}

type ghWorkflow struct {
	Env      map[string]string `yaml:"env"`
	Defaults struct {
		Run struct {
			Shell string `yaml:"shell"`
		} `yaml:"run"`
	} `yaml:"defaults"`
	Jobs map[string]struct {
		Env   map[string]string `yaml:"env"`
		Steps []ghStep          `yaml:"steps"`
	} `yaml:"jobs"`
	// action.yml
	Inputs map[string]struct {
		Default string `yaml:"default"`
	} `yaml:"inputs"`
	Runs struct {
		Steps []ghStep `yaml:"steps"`
	} `yaml:"runs"`
}

var simpleExpr = regexp.MustCompile(`^\$\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}$`)

// evalExpr evaluates the ${{ context.path }} expressions the workflows use
// from the script's environment: secrets.X is $SECRET_X (so that b24perm
// sees a secret only where a step passes it), env.X is $X, github.token
// is $JOB_TOKEN, github.event.a.b is $EVENT_A_B, other github.x are
// $GITHUB_X, inputs.x-y is $INPUT_X_Y, job.status is $JOB_STATUS, and
// steps.ID.outputs.NAME is the last NAME= line of $GITHUB_OUTPUT. Other
// expressions (operators, functions) are not evaluated: ok is false.
func evalExpr(ts *testscript.TestScript, inputs map[string]string, v string) (string, bool) {
	if !strings.Contains(v, "${{") {
		return v, true
	}
	m := simpleExpr.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return "", false
	}
	parts := strings.Split(m[1], ".")
	up := func(p []string) string {
		return strings.ToUpper(strings.ReplaceAll(strings.Join(p, "_"), "-", "_"))
	}
	switch {
	case parts[0] == "secrets":
		return ts.Getenv("SECRET_" + parts[1]), true
	case parts[0] == "env":
		return ts.Getenv(parts[1]), true
	case m[1] == "github.token":
		return ts.Getenv("JOB_TOKEN"), true
	case parts[0] == "github" && len(parts) > 2 && parts[1] == "event":
		return ts.Getenv(up(parts[1:])), true
	case parts[0] == "github":
		return ts.Getenv("GITHUB_" + up(parts[1:])), true
	case parts[0] == "inputs":
		if v, ok := inputs["INPUT_"+up(parts[1:])]; ok {
			return v, true
		}
		return ts.Getenv("INPUT_" + up(parts[1:])), true
	case parts[0] == "job":
		return ts.Getenv(up(parts)), true
	case parts[0] == "steps" && len(parts) == 4 && parts[2] == "outputs":
		b, _ := os.ReadFile(ts.Getenv("GITHUB_OUTPUT"))
		val := ""
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && k == parts[3] {
				val = v
			}
		}
		return val, true
	}
	return "", false
}

// workflowStep implements `workflow-step FILE STEP`: it runs the `run:`
// script of the step named (or with the id) STEP in FILE (relative to the
// repository; a workflow or action.yml) with bash as GitHub would (`bash
// -e`, or `bash --noprofile --norc -eo pipefail` for `shell: bash`), with
// the workflow's, job's and step's env evaluated by evalExpr. ./b24perm
// and $RUNNER_TEMP/b24perm are the b24perm under test. A step that uses
// the action in the repository (`uses: ./`) runs action.yml's run steps
// with its `with:` as INPUT_* (an input given as an expression evalExpr
// cannot evaluate keeps the script's $INPUT_X), except the install step:
// b24perm is already on PATH. A `run:` holding ${{ }} fails the command:
// expressions in scripts are the script-injection pattern.
func workflowStep(root string) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: workflow-step FILE STEP")
		}
		wf := loadWorkflow(ts, filepath.Join(root, args[0]))
		env := map[string]string{}
		var steps []ghStep
		for k, v := range wf.Env {
			env[k] = v
		}
		for _, job := range wf.Jobs {
			for _, st := range job.Steps {
				if st.Name == args[1] || (st.ID != "" && st.ID == args[1]) {
					for k, v := range job.Env {
						env[k] = v
					}
					steps = append(steps, st)
				}
			}
		}
		for _, st := range wf.Runs.Steps {
			if st.Name == args[1] || (st.ID != "" && st.ID == args[1]) {
				steps = append(steps, st)
			}
		}
		if len(steps) != 1 {
			ts.Fatalf("%s: %d steps named %q, want 1", args[0], len(steps), args[1])
		}
		st := steps[0]
		bin := findOnPath(ts, "b24perm")
		work := ts.Getenv("WORK")
		link := func(dir string) {
			if dir == "" {
				return
			}
			os.MkdirAll(dir, 0o755)
			os.Remove(filepath.Join(dir, "b24perm"))
			ts.Check(os.Symlink(bin, filepath.Join(dir, "b24perm")))
		}
		link(work)
		link(ts.Getenv("RUNNER_TEMP"))
		var scripts []string
		switch {
		case st.Uses == "./":
			action := loadWorkflow(ts, filepath.Join(root, "action.yml"))
			inputs := map[string]string{}
			for k, in := range action.Inputs {
				if old := ts.Getenv(inputEnv(k)); old != "" {
					inputs[k] = old
				} else {
					inputs[k], _ = evalExpr(ts, nil, in.Default)
				}
			}
			for k, v := range st.With {
				if val, ok := evalExpr(ts, nil, v); ok {
					inputs[k] = val
				} else {
					inputs[k] = ts.Getenv(inputEnv(k))
				}
			}
			for k := range st.With {
				if _, ok := action.Inputs[k]; !ok {
					ts.Fatalf("%s: step %q passes %q, which action.yml does not declare", args[0], args[1], k)
				}
			}
			for k, v := range inputs {
				env[inputEnv(k)] = v
			}
			env["GITHUB_ACTION_PATH"] = root
			for _, ast := range action.Runs.Steps {
				if ast.Run == "" || strings.HasPrefix(ast.Name, "Install") {
					continue
				}
				scripts = append(scripts, stepScript(ts, args[0], ast, env, "bash"))
			}
		case st.Run != "":
			shell := st.Shell
			if shell == "" {
				shell = wf.Defaults.Run.Shell
			}
			if strings.HasSuffix(args[0], "action.yml") {
				env["GITHUB_ACTION_PATH"] = root
			}
			scripts = append(scripts, stepScript(ts, args[0], st, env, shell))
		default:
			ts.Fatalf("%s: step %q has no run: script", args[0], args[1])
		}
		var err error
		var stdout, stderr strings.Builder
		for _, s := range scripts {
			err = ts.Exec("bash", s)
			stdout.WriteString(ts.ReadFile("stdout"))
			stderr.WriteString(ts.ReadFile("stderr"))
			if err != nil {
				break
			}
		}
		fmt.Fprint(ts.Stdout(), stdout.String())
		fmt.Fprint(ts.Stderr(), stderr.String())
		if neg && err == nil {
			ts.Fatalf("step %q succeeded unexpectedly", args[1])
		}
		if !neg && err != nil {
			ts.Fatalf("step %q failed: %v", args[1], err)
		}
	}
}

func inputEnv(name string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// stepScript writes the bash script that runs one step: the shell's
// options, the step's environment, then the step's run: text.
func stepScript(ts *testscript.TestScript, file string, st ghStep, base map[string]string, shell string) string {
	if strings.Contains(st.Run, "${{") {
		ts.Fatalf("%s: step %q has ${{ }} in its run: script (pass values through env:)", file, st.Name)
	}
	env := map[string]string{}
	for k, v := range base {
		env[k] = v
	}
	for k, v := range st.Env {
		env[k] = v
	}
	var b strings.Builder
	switch shell {
	case "":
		b.WriteString("set -e\n")
	case "bash":
		b.WriteString("set -eo pipefail\n")
	default:
		ts.Fatalf("%s: step %q: shell %q is not emulated", file, st.Name, shell)
	}
	for _, k := range sortedKeys(env) {
		v, ok := evalExpr(ts, env, env[k])
		if !ok {
			v = ts.Getenv(k)
		}
		fmt.Fprintf(&b, "export %s='%s'\n", k, strings.ReplaceAll(v, "'", `'\''`))
	}
	b.WriteString(st.Run + "\n")
	dir := filepath.Join(ts.Getenv("WORK"), ".steps")
	os.MkdirAll(dir, 0o755)
	f, err := os.CreateTemp(dir, "step-*.sh")
	ts.Check(err)
	f.WriteString(b.String())
	f.Close()
	return f.Name()
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func loadWorkflow(ts *testscript.TestScript, path string) *ghWorkflow {
	b, err := os.ReadFile(path)
	ts.Check(err)
	var wf ghWorkflow
	if err := yaml.Unmarshal(b, &wf); err != nil {
		ts.Fatalf("%s: %v", path, err)
	}
	return &wf
}

func findOnPath(ts *testscript.TestScript, name string) string {
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	ts.Fatalf("%s is not on the script's PATH", name)
	return ""
}

// TestWorkflowStepsAreScripted keeps the workflows and the testscripts in
// step: every run: step of the policy workflows (and action.yml's, through
// the step that uses the action) must be run by some testscript with
// workflow-step, except the ones that only build b24perm from source or
// install it (scripts/test-action-install tests the installer).
func TestWorkflowStepsAreScripted(t *testing.T) {
	root, _ := filepath.Abs("../../")
	scripts, err := filepath.Glob(filepath.Join(root, "testdata", "script", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, s := range scripts {
		b, _ := os.ReadFile(s)
		all.Write(b)
	}
	run := all.String()
	files, _ := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		if base := filepath.Base(f); base == "ci.yml" || base == "release.yml" {
			continue // the project's own CI and release, not workflows b24perm users copy
		}
		b, _ := os.ReadFile(f)
		var wf ghWorkflow
		if err := yaml.Unmarshal(b, &wf); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		for _, job := range wf.Jobs {
			for _, st := range job.Steps {
				if (st.Run == "" && st.Uses != "./") || strings.HasPrefix(strings.TrimSpace(st.Run), "go build") {
					continue
				}
				name := st.Name
				if name == "" {
					name = st.ID
				}
				if name == "" {
					t.Errorf("%s: a run step without a name or id cannot be scripted:\n%s", rel, st.Run)
					continue
				}
				if !strings.Contains(run, "workflow-step "+rel+" '"+name+"'") && !strings.Contains(run, "workflow-step "+rel+" "+name+"\n") {
					t.Errorf("%s: step %q is run by no testscript (workflow-step %s '%s')", rel, name, rel, name)
				}
			}
		}
	}
}
