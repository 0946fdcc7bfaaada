// gatehouse console (placeholder). Served from /console/app.js under
// Content-Security-Policy script-src 'self': no inline scripts, no eval.
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  var status = document.getElementById('status');
  if (status) status.textContent = 'Placeholder console loaded.';
});
