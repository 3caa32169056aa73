// Package client embeds laurel's browser client for the /ws/tasks/ consumer
// (task-notifications.js, a dependency-free classic script, and
// task-notifications.mjs, its ES module wrapper) and serves it over HTTP.
//
// Handler serves the files at ScriptPath and ModulePath, under the same
// /static/ prefix Django projects use for static files, so that a page can
// load the client from laurel directly or from a copy in the project's own
// static files. docs/client.md documents the JavaScript API.
package client
