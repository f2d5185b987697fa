/* Building the page from what the server sends, for both web apps (the staff dashboard and the
 * officer's app). Everything the server sends was typed by people (names, notes, field values),
 * so it goes into the page only as text: el() builds elements with createElement and text
 * nodes, refuses inline handlers and styles (the Content-Security-Policy forbids them anyway),
 * and nothing here assigns HTML. Shipped inside each program as /dom.js. */
'use strict';

window.MPP_DOM = Object.freeze({
  $: (sel, root) => (root || document).querySelector(sel),
  $$: (sel, root) => Array.from((root || document).querySelectorAll(sel)),

  // Builds an element. props are attributes, plus "text" (textContent) and "class".
  // children are nodes or strings; strings become text nodes, never markup.
  el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (/^on/i.test(key) || key === 'style') throw new Error('el(): no inline ' + key);
      if (key === 'text') node.textContent = String(value);
      else if (key === 'class') node.className = value;
      else if (key === 'value' || key === 'checked' || key === 'selected') node[key] = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of [].concat(children === undefined ? [] : children)) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }
});
