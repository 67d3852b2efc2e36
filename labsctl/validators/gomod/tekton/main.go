// Command tekton-validate checks Tekton Pipelines and Triggers objects with Tekton's own code.
//
// It reads YAML documents from the files given as arguments and prints one JSON line per Tekton
// object: {"kind","name","namespace","ok","errors","warnings"}. Every object is decoded strictly
// into its Go type (tekton.dev/v1 Task, Pipeline, PipelineRun, TaskRun; triggers.tekton.dev/v1beta1
// TriggerTemplate, TriggerBinding, ClusterTriggerBinding, EventListener, Trigger), defaulted and
// validated as the admission webhooks do on create, with a fresh install's configuration (default
// feature flags). Then the objects are checked together, as the controllers would see them:
//
//   - EventListeners select Triggers (sink.selectTriggers/merge); each Trigger is resolved against
//     the TriggerTemplates and TriggerBindings of the input (template.ResolveTrigger). A
//     TriggerTemplate, TriggerBinding or Trigger that no EventListener uses is reported.
//   - Each TriggerTemplate's resources are built as the sink builds them (template.ResolveResources,
//     binding values kept as their expressions); a declared param that nothing sets stays as a
//     literal "$(tt.params.NAME)" and is reported. A PipelineRun it creates is defaulted and
//     validated like any PipelineRun.
//   - Each Pipeline is run, on paper, with every PipelineRun a TriggerTemplate creates for it (or,
//     when none does, with its params' defaults and its workspaces bound): the PipelineRun
//     reconciler's checks (pipelinerun/resources.ValidateRequiredParametersProvided,
//     ValidateParamTypesMatching, ValidateObjectParamRequiredKeys, ValidateParamArrayIndex,
//     ValidateWorkspaceBindings, ValidateTaskRunSpecs; per pipeline task, against the Task of the
//     input, taskrun.ValidateResolvedTask and ValidateParamEnumSubset). The reconciler runs the enum
//     checks only with enable-param-enum on; they run here always and say so when it is off.
//
// Exit status: 0 when every object passed, 1 when one did not, 2 on a usage or read error.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	pipelineconfig "github.com/tektoncd/pipeline/pkg/apis/config"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	prresources "github.com/tektoncd/pipeline/pkg/reconciler/pipelinerun/resources"
	"github.com/tektoncd/pipeline/pkg/reconciler/taskrun"
	trresources "github.com/tektoncd/pipeline/pkg/reconciler/taskrun/resources"
	triggersconfig "github.com/tektoncd/triggers/pkg/apis/config"
	triggerscontexts "github.com/tektoncd/triggers/pkg/apis/triggers/contexts"
	triggersv1 "github.com/tektoncd/triggers/pkg/apis/triggers/v1beta1"
	"github.com/tektoncd/triggers/pkg/template"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"knative.dev/pkg/apis"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

type result struct {
	Kind      string   `json:"kind"`
	Name      string   `json:"name"`
	Namespace string   `json:"namespace"`
	OK        bool     `json:"ok"`
	Errors    []string `json:"errors"`
	Warnings  []string `json:"warnings"`
}

type document struct {
	raw        []byte // JSON
	apiVersion string
	kind       string
	name       string
	namespace  string
}

// webhookObject is what the defaulting and validating webhooks call.
type webhookObject interface {
	SetDefaults(ctx context.Context)
	Validate(ctx context.Context) *apis.FieldError
}

type object struct {
	doc      document
	value    webhookObject // nil when the document could not be decoded
	errors   []string
	warnings []string
	used     bool // TriggerTemplate, TriggerBinding, Trigger: reached from an EventListener
}

func (o *object) fail(format string, args ...any) {
	o.errors = append(o.errors, fmt.Sprintf(format, args...))
}

var kinds = map[string]func() webhookObject{
	"tekton.dev/v1/Task":        func() webhookObject { return &v1.Task{} },
	"tekton.dev/v1/Pipeline":    func() webhookObject { return &v1.Pipeline{} },
	"tekton.dev/v1/PipelineRun": func() webhookObject { return &v1.PipelineRun{} },
	"tekton.dev/v1/TaskRun":     func() webhookObject { return &v1.TaskRun{} },
	"triggers.tekton.dev/v1beta1/TriggerTemplate": func() webhookObject {
		return &triggersv1.TriggerTemplate{}
	},
	"triggers.tekton.dev/v1beta1/TriggerBinding": func() webhookObject {
		return &triggersv1.TriggerBinding{}
	},
	"triggers.tekton.dev/v1beta1/ClusterTriggerBinding": func() webhookObject {
		return &triggersv1.ClusterTriggerBinding{}
	},
	"triggers.tekton.dev/v1beta1/EventListener": func() webhookObject {
		return &triggersv1.EventListener{}
	},
	"triggers.tekton.dev/v1beta1/Trigger": func() webhookObject { return &triggersv1.Trigger{} },
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tekton-validate FILE... | tekton-validate event ...")
		os.Exit(2)
	}
	if os.Args[1] == "event" {
		os.Exit(runEvent(os.Args[2:]))
	}
	var docs []document
	for _, path := range os.Args[1:] {
		found, err := readDocuments(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: %s: %v\n", path, err)
			os.Exit(2)
		}
		docs = append(docs, found...)
	}
	ctx := freshInstall(context.Background())
	objects := decode(ctx, docs)
	in := index(objects)
	in.checkTriggers(ctx)
	in.checkPipelines(ctx)
	in.checkPipelineRuns(ctx)

	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false)
	failed := false
	for _, obj := range objects {
		res := result{
			Kind: obj.doc.kind, Name: obj.doc.name, Namespace: obj.doc.namespace,
			OK: len(obj.errors) == 0, Errors: nonNil(obj.errors), Warnings: nonNil(obj.warnings),
		}
		failed = failed || !res.OK
		if err := out.Encode(res); err != nil {
			fmt.Fprintf(os.Stderr, "error: %v\n", err)
			os.Exit(2)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func nonNil(values []string) []string {
	if values == nil {
		return []string{}
	}
	return values
}

// freshInstall puts the configuration of a fresh Tekton Pipelines and Triggers install (their
// config maps empty, so every flag at its default) into the context, as the webhooks' stores do;
// the Triggers webhook also marks its context for defaulting (which sets bindings' kind).
func freshInstall(ctx context.Context) context.Context {
	ctx = pipelineconfig.ToContext(ctx, pipelineconfig.FromContextOrDefaults(ctx))
	ctx = triggersconfig.ToContext(ctx, triggersconfig.FromContextOrDefaults(ctx))
	return triggerscontexts.WithUpgradeViaDefaulting(ctx)
}

// readDocuments splits a multi-document YAML file and converts each document to JSON, refusing
// duplicate keys as the API server does.
func readDocuments(path string) ([]document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []document
	for {
		chunk, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		raw, err := yaml.YAMLToJSONStrict(chunk)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", len(docs)+1, err)
		}
		if string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		var head map[string]any
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("document %d is not an object: %w", len(docs)+1, err)
		}
		metadata, _ := head["metadata"].(map[string]any)
		docs = append(docs, document{
			raw: raw, apiVersion: text(head["apiVersion"]), kind: text(head["kind"]),
			name: text(metadata["name"]), namespace: text(metadata["namespace"]),
		})
	}
}

func isTekton(apiVersion string) bool {
	group := strings.SplitN(apiVersion, "/", 2)[0]
	return group == "tekton.dev" || group == "triggers.tekton.dev"
}

// decode decodes, defaults and validates each Tekton document as the webhooks do on create.
// text is a field of the document as the reader sees it; a wrong type is for the strict decoder
// to report.
func text(value any) string {
	if value == nil {
		return ""
	}
	if s, ok := value.(string); ok {
		return s
	}
	return fmt.Sprint(value)
}

func decode(ctx context.Context, docs []document) []*object {
	var objects []*object
	for _, doc := range docs {
		if !isTekton(doc.apiVersion) {
			continue
		}
		obj := &object{doc: doc}
		objects = append(objects, obj)
		value, errs := decodeStrict(doc.raw, doc.apiVersion, doc.kind)
		obj.errors = append(obj.errors, errs...)
		if value == nil {
			continue
		}
		w, e := admit(ctx, value)
		obj.warnings = append(obj.warnings, w...)
		obj.errors = append(obj.errors, e...)
		obj.value = value
	}
	return objects
}

func decodeStrict(raw []byte, apiVersion, kind string) (webhookObject, []string) {
	newValue, known := kinds[apiVersion+"/"+kind]
	if !known {
		return nil, []string{fmt.Sprintf(
			"%s %s is not a kind this validator checks (tekton.dev/v1 Task, Pipeline, "+
				"PipelineRun, TaskRun; triggers.tekton.dev/v1beta1 TriggerTemplate, "+
				"TriggerBinding, ClusterTriggerBinding, EventListener, Trigger)", apiVersion, kind)}
	}
	value := newValue()
	var errs []string
	strict, err := kjson.UnmarshalStrict(raw, value)
	for _, e := range strict {
		errs = append(errs, e.Error())
	}
	if err != nil {
		return nil, append(errs, err.Error())
	}
	return value, errs
}

// admit defaults and validates like the webhooks on create; it returns warnings and errors.
func admit(ctx context.Context, value webhookObject) ([]string, []string) {
	ctx = apis.WithinCreate(ctx)
	value.SetDefaults(ctx)
	fieldErrors := value.Validate(ctx)
	return fieldMessages(fieldErrors.Filter(apis.WarningLevel)),
		fieldMessages(fieldErrors.Filter(apis.ErrorLevel))
}

// fieldMessages is FieldError.Error() one message per entry, in the same words.
func fieldMessages(fe *apis.FieldError) []string {
	if fe == nil {
		return nil
	}
	var out []string
	for _, e := range fe.WrappedErrors() {
		out = append(out, e.Error())
	}
	return out
}

// inputs indexes the decoded objects by kind and namespace/name.
type inputs struct {
	objects   []*object
	byKey     map[string]*object // kind/namespace/name
	pipelines []*object
	// PipelineRuns of the input (e.g. read back from a cluster), checked against their Pipeline.
	pipelineRuns []*object
	triggers     []*object
	listeners    []*object
	templates    []*object
	bindings     []*object
	runs         map[*object][]pipelineRun // Pipeline -> PipelineRuns that would run it
}

type pipelineRun struct {
	via string
	run *v1.PipelineRun
}

func key(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

func index(objects []*object) *inputs {
	in := &inputs{objects: objects, byKey: map[string]*object{}, runs: map[*object][]pipelineRun{}}
	for _, obj := range objects {
		if obj.value == nil {
			continue
		}
		in.byKey[key(obj.doc.kind, obj.doc.namespace, obj.doc.name)] = obj
		switch obj.doc.kind {
		case "Pipeline":
			in.pipelines = append(in.pipelines, obj)
		case "PipelineRun":
			in.pipelineRuns = append(in.pipelineRuns, obj)
		case "Trigger":
			in.triggers = append(in.triggers, obj)
		case "EventListener":
			in.listeners = append(in.listeners, obj)
		case "TriggerTemplate":
			in.templates = append(in.templates, obj)
		case "TriggerBinding", "ClusterTriggerBinding":
			in.bindings = append(in.bindings, obj)
		}
	}
	return in
}

func (in *inputs) get(kind, namespace, name string) *object {
	return in.byKey[key(kind, namespace, name)]
}

// activeTrigger is a Trigger an EventListener processes, and the object to blame for it.
type activeTrigger struct {
	trigger *triggersv1.Trigger
	owner   *object
}

func (in *inputs) checkTriggers(ctx context.Context) {
	var active []activeTrigger
	for _, obj := range in.listeners {
		el := obj.value.(*triggersv1.EventListener)
		for _, t := range in.selectTriggers(el.Namespace, el.Spec.NamespaceSelector, el.Spec.LabelSelector) {
			active = append(active, activeTrigger{t.value.(*triggersv1.Trigger), t})
			t.used = true
		}
		for _, group := range el.Spec.TriggerGroups {
			selector := group.TriggerSelector
			for _, t := range in.selectTriggers(el.Namespace, selector.NamespaceSelector, selector.LabelSelector) {
				active = append(active, activeTrigger{t.value.(*triggersv1.Trigger), t})
				t.used = true
			}
		}
		// sink.merge: triggers listed in the EventListener itself.
		for i, t := range el.Spec.Triggers {
			switch {
			case t.Template == nil && t.TriggerRef != "":
				ref := in.get("Trigger", el.Namespace, t.TriggerRef)
				if ref == nil {
					obj.fail("spec.triggers[%d]: Trigger %s in Namespace %s is not in the input",
						i, t.TriggerRef, el.Namespace)
					continue
				}
				ref.used = true
				active = append(active, activeTrigger{ref.value.(*triggersv1.Trigger), ref})
			case t.Template != nil:
				active = append(active, activeTrigger{&triggersv1.Trigger{
					ObjectMeta: metav1.ObjectMeta{Name: t.Name, Namespace: el.Namespace},
					Spec: triggersv1.TriggerSpec{
						ServiceAccountName: t.ServiceAccountName, Bindings: t.Bindings,
						Template: *t.Template, Interceptors: t.Interceptors,
					},
				}, obj})
			default:
				obj.fail("spec.triggers[%d]: EventListenerTrigger not defined", i)
			}
		}
	}
	for _, at := range active {
		in.processTrigger(ctx, at)
	}
	for _, obj := range in.triggers {
		if !obj.used {
			obj.fail("no EventListener in the input selects this Trigger: no event ever reaches it")
		}
	}
	for _, obj := range in.bindings {
		if !obj.used {
			obj.fail("no Trigger or EventListener in the input uses this %s: its params reach "+
				"no TriggerTemplate", obj.doc.kind)
		}
	}
	for _, obj := range in.templates {
		if obj.used {
			continue
		}
		obj.fail("no Trigger or EventListener in the input uses this TriggerTemplate: no event " +
			"ever creates its resources")
		// Still build its resources, with the TriggerBindings of its namespace, to report what
		// they would be.
		var params []triggersv1.Param
		var names []string
		seen := map[string]bool{}
		for _, b := range in.bindings {
			tb, ok := b.value.(*triggersv1.TriggerBinding)
			if !ok || tb.Namespace != obj.doc.namespace {
				continue
			}
			names = append(names, tb.Name)
			for _, p := range tb.Spec.Params {
				if !seen[p.Name] {
					seen[p.Name] = true
					params = append(params, p)
				}
			}
		}
		via := "with no TriggerBinding"
		if len(names) > 0 {
			via = "with the TriggerBindings of its namespace (" + strings.Join(names, ", ") + ")"
		}
		in.buildResources(ctx, obj, obj.value.(*triggersv1.TriggerTemplate), params, obj.doc.namespace,
			via, obj)
	}
}

// selectTriggers is sink.selectTriggers over the input.
func (in *inputs) selectTriggers(elNamespace string, nsSelector triggersv1.NamespaceSelector,
	labelSelector *metav1.LabelSelector) []*object {
	selector := labels.Everything()
	if labelSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(labelSelector)
		if err != nil {
			return nil
		}
		selector = s
	}
	namespaces := map[string]bool{}
	allNamespaces := false
	switch {
	case len(nsSelector.MatchNames) == 1 && nsSelector.MatchNames[0] == "*":
		allNamespaces = true
	case len(nsSelector.MatchNames) != 0:
		for _, ns := range nsSelector.MatchNames {
			namespaces[ns] = true
		}
	case labelSelector != nil:
		namespaces[elNamespace] = true
	default:
		return nil
	}
	var out []*object
	for _, obj := range in.triggers {
		t := obj.value.(*triggersv1.Trigger)
		if (allNamespaces || namespaces[t.Namespace]) && selector.Matches(labels.Set(t.Labels)) {
			out = append(out, obj)
		}
	}
	return out
}

// processTrigger resolves a Trigger as the sink does and builds its TriggerTemplate's resources.
func (in *inputs) processTrigger(ctx context.Context, at activeTrigger) {
	ns := at.trigger.Namespace
	var templateObj *object
	rt, err := template.ResolveTrigger(*at.trigger,
		func(name string) (*triggersv1.TriggerBinding, error) {
			obj := in.get("TriggerBinding", ns, name)
			if obj == nil {
				return nil, fmt.Errorf("TriggerBinding %q in namespace %q is not in the input", name, ns)
			}
			obj.used = true
			return obj.value.(*triggersv1.TriggerBinding), nil
		},
		func(name string) (*triggersv1.ClusterTriggerBinding, error) {
			obj := in.get("ClusterTriggerBinding", "", name)
			if obj == nil {
				return nil, fmt.Errorf("ClusterTriggerBinding %q is not in the input", name)
			}
			obj.used = true
			return obj.value.(*triggersv1.ClusterTriggerBinding), nil
		},
		func(name string) (*triggersv1.TriggerTemplate, error) {
			obj := in.get("TriggerTemplate", ns, name)
			if obj == nil {
				return nil, fmt.Errorf("TriggerTemplate %q in namespace %q is not in the input", name, ns)
			}
			obj.used = true
			templateObj = obj
			return obj.value.(*triggersv1.TriggerTemplate), nil
		})
	prefix := "Trigger " + at.trigger.Name
	if at.owner.doc.kind == "Trigger" {
		prefix = "trigger"
	}
	if err != nil {
		at.owner.fail("%s: %v", prefix, err)
		return
	}
	blame := at.owner
	if templateObj != nil {
		blame = templateObj
	}
	via := fmt.Sprintf("from %s %s/%s", at.owner.doc.kind, ns, at.owner.doc.name)
	if at.owner.doc.kind == "EventListener" {
		via = fmt.Sprintf("from EventListener %s/%s trigger %q", ns, at.owner.doc.name, at.trigger.Name)
	}
	in.buildResources(ctx, blame, rt.TriggerTemplate, rt.BindingParams, ns, via, templateObj)
}

var ttParam = regexp.MustCompile(`\$\(tt\.params\.([_a-zA-Z][_a-zA-Z0-9.-]*)\)`)

// buildResources builds a TriggerTemplate's resources as the sink would (template.ResolveParams
// minus the event: binding values stay as their expressions) and checks the PipelineRuns.
func (in *inputs) buildResources(ctx context.Context, blame *object, tt *triggersv1.TriggerTemplate,
	bindingParams []triggersv1.Param, namespace, via string, templateObj *object) {
	values := map[string]string{}
	for _, spec := range tt.Spec.Params {
		if spec.Default != nil {
			values[spec.Name] = *spec.Default
		}
	}
	for _, p := range bindingParams {
		values[p.Name] = p.Value
	}
	var params []triggersv1.Param
	for name, value := range values {
		params = append(params, triggersv1.Param{Name: name, Value: value})
	}
	sort.Slice(params, func(i, j int) bool { return params[i].Name < params[j].Name })
	ttName := "TriggerTemplate " + tt.Name
	if templateObj != nil && blame == templateObj {
		ttName = "resources"
	}
	for i, raw := range template.ResolveResources(tt, params) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		_ = json.Unmarshal(raw, &head)
		where := fmt.Sprintf("%s %s: resourcetemplates[%d] (%s)", ttName, via, i, head.Kind)
		var missing []string
		for _, m := range ttParam.FindAllStringSubmatch(string(raw), -1) {
			if !contains(missing, m[1]) {
				missing = append(missing, m[1])
			}
		}
		for _, name := range missing {
			blame.fail("%s keeps the literal $(tt.params.%s): param %q has no default and no "+
				"TriggerBinding sets it", where, name, name)
		}
		if head.APIVersion != "tekton.dev/v1" || head.Kind != "PipelineRun" {
			continue
		}
		value, errs := decodeStrict(raw, head.APIVersion, head.Kind)
		for _, e := range errs {
			blame.fail("%s: %s", where, e)
		}
		if value == nil {
			continue
		}
		pr := value.(*v1.PipelineRun)
		if pr.Namespace == "" {
			pr.Namespace = namespace
		}
		if pr.Name == "" {
			pr.Name = pr.GenerateName + "00000"
		}
		_, errs = admit(ctx, pr)
		for _, e := range errs {
			blame.fail("%s: %s", where, e)
		}
		if pr.Spec.PipelineRef == nil || pr.Spec.PipelineRef.Name == "" {
			continue // an embedded or resolver-fetched Pipeline: nothing in the input to run
		}
		pipeline := in.get("Pipeline", pr.Namespace, pr.Spec.PipelineRef.Name)
		if pipeline == nil {
			blame.fail("%s: Pipeline %q in namespace %q is not in the input", where,
				pr.Spec.PipelineRef.Name, pr.Namespace)
			continue
		}
		in.runs[pipeline] = append(in.runs[pipeline], pipelineRun{
			via: fmt.Sprintf("PipelineRun created by TriggerTemplate %s %s", tt.Name, via), run: pr,
		})
	}
}

func contains(values []string, value string) bool {
	for _, v := range values {
		if v == value {
			return true
		}
	}
	return false
}

func (in *inputs) checkPipelines(ctx context.Context) {
	for _, obj := range in.pipelines {
		pipeline := obj.value.(*v1.Pipeline)
		runs := in.runs[obj]
		if len(runs) == 0 {
			runs = []pipelineRun{{
				via: "PipelineRun giving the Pipeline's required params (no TriggerTemplate in " +
					"the input runs this Pipeline)",
				run: defaultRun(ctx, pipeline),
			}}
		}
		for _, r := range runs {
			for _, e := range in.runChecks(ctx, pipeline, r.run) {
				obj.fail("%s: %s", r.via, e)
			}
		}
	}
}

// checkPipelineRuns runs the reconciler's checks on each PipelineRun of the input whose Pipeline
// is in the input too; one whose Pipeline is missing is reported.
func (in *inputs) checkPipelineRuns(ctx context.Context) {
	for _, obj := range in.pipelineRuns {
		pr := obj.value.(*v1.PipelineRun)
		if pr.Spec.PipelineRef == nil || pr.Spec.PipelineRef.Name == "" {
			continue // an embedded pipelineSpec or a resolver: nothing of the input to check against
		}
		pipeline := in.get("Pipeline", pr.Namespace, pr.Spec.PipelineRef.Name)
		if pipeline == nil {
			obj.fail("its Pipeline %s/%s is not in the input", pr.Namespace, pr.Spec.PipelineRef.Name)
			continue
		}
		for _, e := range in.runChecks(ctx, pipeline.value.(*v1.Pipeline), pr) {
			obj.fail("%s", e)
		}
	}
}

// defaultRun is a PipelineRun as a user starts one by hand: a value for each param without a
// default (what `tkn pipeline start` asks for), the defaults for the others, and every required
// workspace bound.
func defaultRun(ctx context.Context, pipeline *v1.Pipeline) *v1.PipelineRun {
	pr := &v1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Name: pipeline.Name + "-run", Namespace: pipeline.Namespace},
		Spec:       v1.PipelineRunSpec{PipelineRef: &v1.PipelineRef{Name: pipeline.Name}},
	}
	for _, spec := range pipeline.Spec.Params {
		if spec.Default != nil {
			continue
		}
		value := v1.ParamValue{Type: v1.ParamTypeString, StringVal: "given-" + spec.Name}
		switch spec.Type {
		case v1.ParamTypeArray:
			value = v1.ParamValue{Type: v1.ParamTypeArray, ArrayVal: []string{"given-" + spec.Name}}
		case v1.ParamTypeObject:
			value = v1.ParamValue{Type: v1.ParamTypeObject, ObjectVal: map[string]string{}}
			for key := range spec.Properties {
				value.ObjectVal[key] = "given-" + key
			}
		}
		pr.Spec.Params = append(pr.Spec.Params, v1.Param{Name: spec.Name, Value: value})
	}
	for _, ws := range pipeline.Spec.Workspaces {
		if !ws.Optional {
			pr.Spec.Workspaces = append(pr.Spec.Workspaces, v1.WorkspaceBinding{
				Name: ws.Name, EmptyDir: &corev1.EmptyDirVolumeSource{},
			})
		}
	}
	pr.SetDefaults(apis.WithinCreate(ctx))
	return pr
}

// runChecks runs the PipelineRun reconciler's checks (reconcile(), in its order), all of them
// rather than stopping at the first failure.
func (in *inputs) runChecks(ctx context.Context, pipeline *v1.Pipeline, original *v1.PipelineRun) []string {
	var out []string
	add := func(err error) {
		if err != nil {
			out = append(out, err.Error())
		}
	}
	enumOff := ""
	if !pipelineconfig.FromContextOrDefaults(ctx).FeatureFlags.EnableParamEnum {
		enumOff = fmt.Sprintf(" (the PipelineRun reconciler checks this only with %s: true)",
			pipelineconfig.EnableParamEnum)
	}
	addEnum := func(err error) {
		if err != nil {
			out = append(out, err.Error()+enumOff)
		}
	}
	pr := original.DeepCopy()
	spec := pipeline.Spec.DeepCopy()
	add(prresources.ValidateRequiredParametersProvided(&spec.Params, &pr.Spec.Params))
	add(prresources.ValidateParamTypesMatching(spec, pr))
	addEnum(taskrun.ValidateEnumParam(ctx, pr.Spec.Params, spec.Params))
	add(prresources.ValidateObjectParamRequiredKeys(spec.Params, pr.Spec.Params))
	add(prresources.ValidateParamArrayIndex(spec, pr.Spec.Params))
	add(prresources.ValidateWorkspaceBindings(spec, pr))
	add(prresources.ValidateTaskRunSpecs(spec, pr))
	if len(out) > 0 {
		// The reconciler stops here; only say which Tasks it could not have found either.
		for _, pt := range append(append([]v1.PipelineTask{}, spec.Tasks...), spec.Finally...) {
			in.resolveTask(pipeline.Namespace, pt, &out)
		}
		return out
	}
	prresources.ApplyParametersToWorkspaceBindings(pr)
	originalSpec := spec.DeepCopy()
	originalTasks := append(originalSpec.Tasks, originalSpec.Finally...)
	applied, err := prresources.ApplyParameters(spec, pr)
	if err != nil {
		return append(out, err.Error())
	}
	tasks := append(append([]v1.PipelineTask{}, applied.Tasks...), applied.Finally...)
	for i, pt := range tasks {
		rt := in.resolveTask(pipeline.Namespace, pt, &out)
		if rt == nil {
			continue
		}
		add(taskrun.ValidateResolvedTask(ctx, pt.Params, pt.Matrix, rt))
		addEnum(prresources.ValidateParamEnumSubset(originalTasks[i].Params, applied.Params, rt))
	}
	return out
}

// resolveTask finds a pipeline task's Task in the input (or its embedded spec).
func (in *inputs) resolveTask(namespace string, pt v1.PipelineTask, out *[]string) *trresources.ResolvedTask {
	switch {
	case pt.TaskSpec != nil && pt.TaskSpec.IsCustomTask():
		return nil
	case pt.TaskSpec != nil:
		return &trresources.ResolvedTask{TaskSpec: &pt.TaskSpec.TaskSpec}
	case pt.TaskRef == nil || pt.TaskRef.Resolver != "" || pt.TaskRef.IsCustomTask():
		return nil // a remote, custom or child-pipeline task: not in the input
	}
	if pt.TaskRef.Kind != "" && pt.TaskRef.Kind != v1.NamespacedTaskKind {
		return nil
	}
	obj := in.get("Task", namespace, pt.TaskRef.Name)
	if obj == nil {
		*out = append(*out, fmt.Sprintf("pipeline task %q: Task %q in namespace %q is not in the input",
			pt.Name, pt.TaskRef.Name, namespace))
		return nil
	}
	task := obj.value.(*v1.Task)
	return &trresources.ResolvedTask{TaskName: task.Name, Kind: v1.NamespacedTaskKind, TaskSpec: &task.Spec}
}
