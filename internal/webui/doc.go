// Package webui serves the operator's web page at /: the site's racks
// drawn as elevations, every node in its unit, coloured by its state with
// the step it is at. The page is rendered on the server, so it reads
// without JavaScript; a small script (no framework) keeps it live from
// the API's Server-Sent Events stream (/api/v1/events) and shows a
// node's timeline and last log lines when it is clicked. Every asset is
// embedded in the binary: the page loads nothing from elsewhere.
package webui
