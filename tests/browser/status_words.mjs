// Whether the detail page's #detail-status shows `status`. Runs inside the page (it is passed to
// waitForFunction, so it must stand alone). The badge's words must be the dashboard's own for
// that status in the page's language (window.MPP_I18N, i18n.js), and where the badge carries a
// status-<name> class, that class must name it too.
export function statusShown(status) {
  const el = document.querySelector('#detail-status');
  if (!el) return false;
  const classes = [...el.classList].filter((c) => c.startsWith('status-'));
  if (classes.length && !classes.includes(`status-${status}`)) return false;
  const text = el.textContent.trim();
  const dict = window.MPP_I18N && window.MPP_I18N[document.documentElement.lang];
  const label = dict && dict[`status.${status}`];
  if (label) return text === label;
  return text === status || classes.includes(`status-${status}`);
}
