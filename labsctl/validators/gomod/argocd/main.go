// Command argocd-validate checks Argo CD AppProjects and Applications with Argo CD's own code.
//
// It reads YAML documents from the files given as arguments and prints one JSON line per
// AppProject and Application: {"kind","name","namespace","ok","errors","warnings"}. Objects are
// decoded strictly into the v1alpha1 types; each AppProject goes through ValidateProject (what the
// API server checks on create); each Application is checked as the application controller does on
// every refresh: its AppProject must exist (looked up in the same input), may host applications of
// its namespace, and must permit its sources and its destination (util/argo.ValidatePermissions,
// against a fresh install where only the in-cluster destination is known).
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
	"strings"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/argo"
	"github.com/argoproj/argo-cd/v3/util/db"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const group = "argoproj.io"

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

type object struct {
	doc     document
	project *v1alpha1.AppProject
	app     *v1alpha1.Application
	errors  []string
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: argocd-validate FILE...")
		os.Exit(2)
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
	objects := decode(docs)
	check(objects)
	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false)
	failed := false
	for _, obj := range objects {
		res := result{
			Kind: obj.doc.kind, Name: obj.doc.name, Namespace: obj.doc.namespace,
			OK: len(obj.errors) == 0, Errors: obj.errors, Warnings: []string{},
		}
		if res.Errors == nil {
			res.Errors = []string{}
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

func decode(docs []document) []*object {
	var objects []*object
	for _, doc := range docs {
		if strings.SplitN(doc.apiVersion, "/", 2)[0] != group {
			continue
		}
		obj := &object{doc: doc}
		objects = append(objects, obj)
		var target any
		switch {
		case doc.apiVersion == "argoproj.io/v1alpha1" && doc.kind == "AppProject":
			obj.project = &v1alpha1.AppProject{}
			target = obj.project
		case doc.apiVersion == "argoproj.io/v1alpha1" && doc.kind == "Application":
			obj.app = &v1alpha1.Application{}
			target = obj.app
		default:
			obj.errors = append(obj.errors, fmt.Sprintf(
				"%s %s is not a kind this validator checks (AppProject, Application)",
				doc.apiVersion, doc.kind))
			continue
		}
		strict, err := kjson.UnmarshalStrict(doc.raw, target)
		for _, e := range strict {
			obj.errors = append(obj.errors, e.Error())
		}
		if err != nil {
			obj.errors = append(obj.errors, err.Error())
			obj.project, obj.app = nil, nil
		}
	}
	return objects
}

func check(objects []*object) {
	projects := map[string][]*v1alpha1.AppProject{}
	for _, obj := range objects {
		if obj.project == nil {
			continue
		}
		if err := obj.project.ValidateProject(); err != nil {
			obj.errors = append(obj.errors, err.Error())
		}
		projects[obj.project.Name] = append(projects[obj.project.Name], obj.project)
	}
	ctx := context.Background()
	for _, obj := range objects {
		if obj.app == nil {
			continue
		}
		app := obj.app
		proj := findProject(projects[app.Spec.GetProject()], app.Namespace)
		if proj == nil {
			// The application controller's words (projectErrorToCondition).
			obj.errors = append(obj.errors, fmt.Sprintf(
				"Application referencing project %s which does not exist", app.Spec.GetProject()))
			continue
		}
		// The project is looked up in Argo CD's own namespace: the AppProject's.
		if !proj.IsAppNamespacePermitted(app, proj.Namespace) {
			obj.errors = append(obj.errors,
				argo.NewErrApplicationNotAllowedToUseProject(app.Name, app.Namespace, proj.Name).Error())
			continue
		}
		conditions, err := argo.ValidatePermissions(ctx, &app.Spec, proj, freshInstall{})
		if err != nil {
			obj.errors = append(obj.errors, err.Error())
		}
		for _, condition := range conditions {
			obj.errors = append(obj.errors, condition.Message)
		}
	}
}

// findProject prefers the AppProject in the Application's namespace.
func findProject(candidates []*v1alpha1.AppProject, namespace string) *v1alpha1.AppProject {
	for _, proj := range candidates {
		if proj.Namespace == namespace {
			return proj
		}
	}
	if len(candidates) > 0 {
		return candidates[0]
	}
	return nil
}

// freshInstall is the cluster database of a fresh Argo CD install: the in-cluster destination
// only, enabled, no cluster secrets. ValidatePermissions calls nothing else.
type freshInstall struct {
	db.ArgoDB
}

var inCluster = v1alpha1.Cluster{Name: "in-cluster", Server: v1alpha1.KubernetesInternalAPIServerAddr}

func (freshInstall) GetCluster(_ context.Context, server string) (*v1alpha1.Cluster, error) {
	if server == inCluster.Server {
		return inCluster.DeepCopy(), nil
	}
	return nil, status.Errorf(codes.NotFound, "cluster %q not found", server)
}

func (freshInstall) GetClusterServersByName(_ context.Context, name string) ([]string, error) {
	if name == inCluster.Name {
		return []string{inCluster.Server}, nil
	}
	return nil, nil
}

func (freshInstall) GetProjectClusters(context.Context, string) ([]*v1alpha1.Cluster, error) {
	return nil, nil
}
