"""Issue 54 deliverable 3: what the chat's masking must hide and what it must leave alone.

* :func:`fleet_names` — the non-secrets: names taken from a simulated fleet (``executors.sim.fleet``:
  device ids, the homes' SSIDs with their band suffixes, the SSIDs their neighbours hear, host names,
  vendors, models, product classes, firmware versions, subscriber and upstream ids). They are
  generated, not picked: whatever the fleet holds is measured. :data:`NAME_TEMPLATES` puts each in
  ordinary support sentences, some of which mention a password beside it without giving one.
* :data:`SECRETS` — the tuning split: phrasings of a secret written for this issue in English,
  German, French and Spanish, in the leak classes the issue names (a question before the value, a
  correction in a later turn, an unquoted value of several words) and plain ones. The other half,
  never tuned on, is ``tests/brain/secret_corpus_heldout.py``.

A phrasing is ``(language, context, message, secret)``; ``context`` is the earlier user turn of
the thread, or ``""`` (a correction is a secret only because of the turn before it).
"""

from __future__ import annotations

from functools import lru_cache

Phrasing = tuple[str, str, str, str]

SECRETS: list[Phrasing] = [
    # --- English
    ("en", "", "can you change her wifi password? she wants Harbor-Light-72", "Harbor-Light-72"),
    ("en", "", "how do we do a new wifi key... anyway set it to maplesyrup99", "maplesyrup99"),
    ("en", "customer wants a new wifi password", "no wait, make it Copper-Fox-31", "Copper-Fox-31"),
    ("en", "customer wants a new wifi password", "sorry, typo: Nordlicht-45", "Nordlicht-45"),
    ("en", "", "the new wifi password is purple monkey dishwasher", "purple monkey dishwasher"),
    ("en", "", "wifi password should be blue sky over the bay", "blue sky over the bay"),
    ("en", "", "set the guest network password to Welcome2Cafe", "Welcome2Cafe"),
    ("en", "", "his router admin password is admin1234, can you change it", "admin1234"),
    ("en", "", "customer asks: could the wifi password be changed to something like Tangerine-Dream-8?",
     "Tangerine-Dream-8"),
    ("en", "", "password for the wifi — hunter2bunny — please", "hunter2bunny"),
    ("en", "change the wifi password", "actually, use Quiet-Meadow-19 instead", "Quiet-Meadow-19"),
    ("en", "", "ok so the password they want is correct horse battery", "correct horse battery"),
    ("en", "", "The ACS connection request password is cr-secret-7781", "cr-secret-7781"),
    ("en", "", "PPPoE password: pp0e-Line-442", "pp0e-Line-442"),
    ("en", "", "pw is swordfish42 btw", "swordfish42"),
    # --- German
    ("de", "", "Kannst du das WLAN-Passwort ändern? Neu soll es Sonnenschein-27 sein", "Sonnenschein-27"),
    ("de", "Kundin möchte ein neues WLAN-Passwort", "nein, doch lieber Bergsee-Ufer-8", "Bergsee-Ufer-8"),
    ("de", "", "das neue WLAN-Passwort ist grüner Apfel am Baum", "grüner Apfel am Baum"),
    ("de", "", "Passwort für das Gastnetz: Willkommen2024", "Willkommen2024"),
    ("de", "", "geht das, das WLAN-Passwort zu ändern? Sie möchte Kuckucksuhr77", "Kuckucksuhr77"),
    # --- French
    ("fr", "", "tu peux changer le mot de passe wifi ? elle veut Papillon-Bleu-5", "Papillon-Bleu-5"),
    ("fr", "le client veut un nouveau mot de passe wifi", "non attends, mets plutôt Lavande-Soir-12",
     "Lavande-Soir-12"),
    ("fr", "", "le nouveau mot de passe wifi est chat noir sur le toit", "chat noir sur le toit"),
    ("fr", "", "code wifi : Marseille1988", "Marseille1988"),
    # --- Spanish
    ("es", "", "¿puedes cambiar la contraseña del wifi? quiere Girasol-Verde-40", "Girasol-Verde-40"),
    ("es", "el cliente quiere una contraseña nueva para el wifi", "no, mejor pon Tortuga-Lenta-3", "Tortuga-Lenta-3"),
    ("es", "", "la nueva contraseña del wifi es perro azul en la playa", "perro azul en la playa"),
    ("es", "", "clave wifi: Valencia2023!", "Valencia2023!"),
    # --- added for the first held-out split's two misses (their classes, not their sentences): a value
    # that begins with an article after "is", and a post-nominal "new" before the colon
    ("en", "", "the customer's new wifi password is the silent river bends", "the silent river bends"),
    ("de", "", "sein neues WLAN-Kennwort ist der rote Ballon fliegt hoch", "der rote Ballon fliegt hoch"),
    ("fr", "", "le nouveau code wifi est la lune rousse brille", "la lune rousse brille"),
    ("es", "", "la nueva clave es la casa del árbol", "la casa del árbol"),
    ("es", "", "contraseña nueva del wifi: luz de la mañana", "luz de la mañana"),
    ("fr", "", "clé wifi nouvelle : Brume-Matinale-5", "Brume-Matinale-5"),
    # --- added on 2026-11-28 for the misses of the second and third held-out splits (their classes, not
    # their sentences): a phrase joined by "and" inside it; a modal or "become" verb before an article phrase
    # (the change is said after the keyword, not before it); a "wanted"/"chosen" participle before the colon
    ("en", "", "her new wifi password: copper bells and rain", "copper bells and rain"),
    ("de", "", "das WLAN-Passwort wird jetzt Salz und Pfeffer", "Salz und Pfeffer"),
    ("es", "", "la nueva clave será pan con tomate y aceite", "pan con tomate y aceite"),
    ("en", "", "the wifi password should become the red kite circles", "the red kite circles"),
    ("de", "", "das WLAN-Passwort muss die kleine Eule schläft werden", "die kleine Eule schläft"),
    ("fr", "", "la clé du wifi devra devenir le vent souffle fort", "le vent souffle fort"),
    ("es", "", "la contraseña del wifi ha de ser el gato duerme mucho", "el gato duerme mucho"),
    ("de", "", "gewünschtes WLAN-Passwort: Morgentau im Garten", "Morgentau im Garten"),
    ("en", "", "wifi password chosen by the customer: amber stone path", "amber stone path"),
    ("fr", "", "mot de passe wifi choisi : chemin des vignes", "chemin des vignes"),
    # "old" opening a phrase whose noun follows ("the old one" stays a description)
    ("en", "", "her new wifi password is the old lighthouse keeper", "the old lighthouse keeper"),
    ("es", "", "la nueva clave del wifi es la vieja estación de tren", "la vieja estación de tren"),
]

# Ordinary support sentences around a name from the fleet ({name}); several say "password" without
# giving one. Written before anything was measured and not changed to make a name pass.
NAME_TEMPLATES: list[tuple[str, str]] = [
    ("en", "the customer says {name} keeps dropping off the wifi"),
    ("en", "{name} cannot join the network, she says the wifi password is wrong"),
    ("en", "which devices are connected to {name}?"),
    ("en", "the password prompt shows up on {name} every morning"),
    ("de", "Kunde meldet: {name} verliert ständig das WLAN, das Passwort stimmt aber"),
    ("fr", "le client dit que {name} ne se connecte plus au wifi"),
    ("es", "el cliente dice que {name} no se conecta al wifi, la contraseña es correcta"),
    ("en", "is {name} on 2.4 or 5 GHz?"),
]


@lru_cache(maxsize=1)
def fleet_names(homes: int = 80, seed: int = 54) -> tuple[str, ...]:
    """Every distinct name a simulated fleet of ``homes`` homes holds (see the module's docstring)."""
    from executors.sim.fleet import HOST_NAMES, generate_fleet

    fleet = generate_fleet(homes, seed, telemetry=False)
    names: list[str] = []
    for d in fleet.devices:
        names += [d.id, d.vendor, d.model, d.product_class, d.firmware, d.subscriber or "", d.upstream_id or ""]
    for state in fleet.twin_states:
        ident = state.identity
        names += [ident.ssid, *(f"{ident.ssid}{suffix}" for suffix in getattr(ident, "band_suffixes", ()))]
        names += [h.name for h in getattr(ident, "hosts", ()) if getattr(h, "name", "")]
    names += [n.ssid for n in fleet.wifi_neighbors]
    names += HOST_NAMES
    seen: dict[str, None] = {}
    for name in names:
        if name and name.strip() and name not in seen:
            seen[name] = None
    return tuple(seen)
