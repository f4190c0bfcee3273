// Render the pages' LaTeX ($...$, $$...$$, \(...\), \[...\]) with the bundled KaTeX: no network at view time.
// Code, outputs' <pre> and the like are left alone (KaTeX's auto-render skips pre, code, script...).
(function () {
  function render() {
    var root = document.querySelector('article') || document.body;
    if (!window.renderMathInElement || root.dataset.mathDone) return;
    root.dataset.mathDone = '1';
    renderMathInElement(root, {
      delimiters: [
        {left: '$$', right: '$$', display: true}, {left: '\\[', right: '\\]', display: true},
        {left: '$', right: '$', display: false}, {left: '\\(', right: '\\)', display: false}],
      ignoredClasses: ['jp-OutputArea-output', 'doc-sig', 'highlight'],
      throwOnError: false
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', render); else render();
})();
