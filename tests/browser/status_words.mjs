// Whether the detail page's #detail-status shows `status`. Runs inside the page (it is passed to
// waitForFunction, so it must stand alone): its data-status attribute when the dashboard sets
// one, else its text, as the status name or the words the dashboard shows for it (Indonesian or
// English).
export function statusShown(status) {
  const el = document.querySelector('#detail-status');
  if (!el) return false;
  if (el.dataset.status) return el.dataset.status === status;
  const words = {
    submitted: ['submitted', 'diajukan', 'terkirim'],
    received: ['received', 'diterima'],
    in_review: ['in_review', 'in review', 'diperiksa', 'pemeriksaan', 'ditinjau'],
    needs_info: ['needs_info', 'needs info', 'information', 'perlu', 'kurang', 'informasi'],
    completed: ['completed', 'selesai'],
    delivered: ['delivered', 'diserahkan'],
    rejected: ['rejected', 'ditolak'],
    cancelled: ['cancelled', 'dibatalkan'],
  };
  const text = el.textContent.trim().toLowerCase();
  return (words[status] || [status]).some((w) => text.includes(w));
}
