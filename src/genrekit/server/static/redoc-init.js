// Starts ReDoc on /redoc. Its styled-components write <style> elements; they carry this
// response's CSP nonce (style-src 'self' 'nonce-...'), read from the page.
"use strict";

const root = document.getElementById("redoc");
Redoc.init(root.dataset.openapiUrl, { nonce: root.dataset.styleNonce }, root);
