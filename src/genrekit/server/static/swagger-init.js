// Starts Swagger UI on /docs: a file, not an inline script, so the page's CSP needs no
// 'unsafe-inline' (script-src 'self').
"use strict";

const root = document.getElementById("swagger-ui");

// Behind a proxy that serves the service under a sub-path (/genre/) without saying so
// (no --root-path), the API's own paths (/v1/predict) would be asked of the proxy's root:
// "Try it out" sends them below the folder this page was served from instead.
function underThisPage(request) {
  const base = new URL(".", window.location.href);
  const url = new URL(request.url, window.location.href);
  if (url.origin === base.origin && !url.pathname.startsWith(base.pathname)) {
    request.url = new URL(url.pathname.slice(1) + url.search, base).href;
  }
  return request;
}

window.ui = SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null, // no badge fetched from validator.swagger.io
  requestInterceptor: underThisPage,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
