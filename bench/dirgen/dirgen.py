#!/usr/bin/python3
"""dirgen: a deterministic, realistic Medimail directory as LDIF for slapadd.

Entries look like the ones medimail-authd writes (authd/account/register.c): French
names, TRE_G15 professions, RPPS / FINESS with valid Luhn keys, MSSanté
addresses, folded search keys (plain and field-tagged), a PER / INT / MED /
ORG mix shaped like the national extraction (about 85 % PER, 15 % ORG among
MSSanté mailboxes), a few suspended or pending accounts and owners who hid
their address.

Usage: dirgen.py --count N [--seed S] [--suffix DN] [--output FILE]
The base entries (suffix, ou=people, ou=orgs, ...) are not written: slapd.sh
creates them.  Python standard library only.
"""
import argparse
import random
import sys
import unicodedata

SURNAMES = """Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel
Lefèvre Leroy Roux David Bertrand Morel Fournier Girard Bonnet Dupont Lambert Fontaine Rousseau
Vincent Müller Lefebvre Faure André Mercier Blanc Guérin Boyer Garnier Chevalier François Legrand
Gauthier Garcia Perrin Robin Clément Morin Nicolas Henry Roussel Mathieu Gautier Masson Marchand
Duval Denis Dumont Marie Lemaire Noël Meyer Dufour Meunier Brun Blanchard Giraud Joly Rivière Lucas
Brunet Gaillard Barbier Arnaud Martinez Gérard Roche Renard Schmitt Roy Leroux Colin Vidal Caron
Picard Roger Fabre Aubert Lemoine Renaud Dumas Lacroix Olivier Philippe Bourgeois Pierre Benoît
Rey Leclerc Payet Rolland Leclercq Guillaume Lecomte Lopez Jean Dupuy Guillot Hubert Berger
Carpentier Sanchez Dupuis Moulin Louis Deschamps Huet Vasseur Perez Boucher Fleury Royer Klein
Jacquet Adam Paris Poirier Marty Aubry Guyot Carré Charles Renault Charpentier Ménard Maillard
Baron Bertin Bailly Hervé Schneider Fernandez Le Gall Collet Léger Bouvier Julien Prévost Millet
Perrot Daniel Le Roux Cousin Germain Breton Besson Langlois Rémy Le Goff Pelletier Lévêque Perrier
Leblanc Barré Lebrun Marchal Weber Mallet Hamon Boulanger Jacob Monnier Michaud Rodriguez Guichard
Gillet Étienne Grondin Poulain Tessier Chevallier Collin Chauvin Da Silva Bouchet Gay Lemaître
Bénard Maréchal Humbert Reynaud Antoine Hoarau Perret Barthélemy Cordier Pichon Lejeune Gilbert
Lamy Delaunay Pasquier Carlier Laporte Benali Nguyen Haddad Ben Salah Ortéga Cazals Castéra
Bénazet Espitalier Soulié Fabié Carrère Arnal Puech Vergnes Bousquet Delmas Cabrol Calmels""".split()
SURNAMES = [s.replace("_", " ") for s in SURNAMES]
GIVEN = """Jean Marie Michel Pierre Philippe Nathalie Isabelle Sylvie Catherine Françoise Alain Nicolas
Christophe Patrick Stéphane Christine Monique Sophie Valérie Laurent Frédéric Éric Sandrine Julien
David Céline Thomas Véronique Olivier Camille Léa Chloé Manon Emma Inès Jade Louise Zoé Hugo Lucas
Léo Gabriel Raphaël Arthur Louis Jules Adam Maël Noé Théo Clément Mathéo Gaël Anaïs Océane Maëlle
Hélène Agnès Béatrice Cécile Geneviève Thérèse Noël Jérôme Sébastien Cédric Benoît Grégoire Loïc
Aurélie Émilie Élodie Mélanie Amélie Karim Mehdi Yasmine Fatima Ahmed Nadia Rachid Sonia Joël
François Hervé André René Josée Anne Claire Margaux Lucie Juliette Mathilde Pauline Marion""".split()
# (city, postcode, département) -- Occitanie first, then the rest of France.
CITIES = [
    ("Toulouse", "31000", "31"), ("Montpellier", "34000", "34"), ("Nîmes", "30000", "30"),
    ("Perpignan", "66000", "66"), ("Béziers", "34500", "34"), ("Narbonne", "11100", "11"),
    ("Carcassonne", "11000", "11"), ("Albi", "81000", "81"), ("Sète", "34200", "34"),
    ("Castres", "81100", "81"), ("Montauban", "82000", "82"), ("Tarbes", "65000", "65"),
    ("Rodez", "12000", "12"), ("Alès", "30100", "30"), ("Cahors", "46000", "46"),
    ("Auch", "32000", "32"), ("Millau", "12100", "12"), ("Lourdes", "65100", "65"),
    ("Foix", "09000", "09"), ("Mende", "48000", "48"), ("Lunel", "34400", "34"),
    ("Agde", "34300", "34"), ("Colomiers", "31770", "31"), ("Tournefeuille", "31170", "31"),
    ("Muret", "31600", "31"), ("Figeac", "46100", "46"), ("Pamiers", "09100", "09"),
    ("Villefranche-de-Rouergue", "12200", "12"), ("Saint-Gaudens", "31800", "31"),
    ("Lézignan-Corbières", "11200", "11"), ("Paris", "75012", "75"), ("Paris", "75015", "75"),
    ("Lyon", "69003", "69"), ("Marseille", "13005", "13"), ("Bordeaux", "33000", "33"),
    ("Nantes", "44000", "44"), ("Lille", "59000", "59"), ("Strasbourg", "67000", "67"),
    ("Rennes", "35000", "35"), ("Grenoble", "38000", "38"), ("Dijon", "21000", "21"),
    ("Angers", "49000", "49"), ("Besançon", "25000", "25"), ("Orléans", "45000", "45"),
    ("Rouen", "76000", "76"), ("Caen", "14000", "14"), ("Nancy", "54000", "54"),
    ("Saint-Étienne", "42000", "42"), ("Clermont-Ferrand", "63000", "63"), ("Limoges", "87000", "87"),
    ("Poitiers", "86000", "86"), ("Pau", "64000", "64"), ("Bayonne", "64100", "64"),
    ("Ajaccio", "20000", "2A"), ("Bastia", "20200", "2B"), ("Saint-Denis", "97400", "974"),
    ("Fort-de-France", "97200", "972"), ("Pointe-à-Pitre", "97110", "971"),
]
REGION = {"31": "Occitanie", "34": "Occitanie", "30": "Occitanie", "66": "Occitanie", "11": "Occitanie",
          "81": "Occitanie", "82": "Occitanie", "65": "Occitanie", "12": "Occitanie", "46": "Occitanie",
          "32": "Occitanie", "09": "Occitanie", "48": "Occitanie"}
STREETS = ["rue de la République", "avenue Jean Jaurès", "place du Capitole", "boulevard Gambetta",
           "rue Victor Hugo", "allée des Tilleuls", "chemin des Vignes", "rue de l'Église",
           "avenue de la Gare", "rue Pasteur", "impasse des Lilas", "rue Émile Zola", "quai de la Daurade",
           "route de Narbonne", "rue du Général de Gaulle", "place de la Mairie", "rue des Écoles"]
# TRE_G15 code, weight, MSSanté domain slug (as authd's profession_domain_key)
PROFESSIONS = [("10", 34, "medecin"), ("60", 26, "infirmier"), ("70", 10, "masseur-kinesitherapeute"),
               ("21", 9, "pharmacien"), ("40", 5, "chirurgien-dentiste"), ("50", 3, "sage-femme"),
               ("91", 3, "orthophoniste"), ("80", 2, "pedicure-podologue"), ("92", 1, "orthoptiste"),
               ("94", 1, "ergotherapeute"), ("95", 1, "dieteticien"), ("96", 1, "psychomotricien"),
               ("26", 1, "audioprothesiste"), ("28", 1, "opticien-lunetier"), ("98", 1, "manipulateur-erm"),
               ("86", 1, "technicien-de-laboratoire-medical"), ("69", 1, "infirmier")]
SPECIALITIES = {"10": ["Médecine générale", "Cardiologie", "Pédiatrie", "Psychiatrie", "Radiologie",
                       "Gynécologie-obstétrique", "Anesthésie-réanimation", "Dermatologie"],
                "21": ["Officine", "Biologie médicale", "Pharmacie hospitalière"],
                "40": ["Orthopédie dento-faciale", "Chirurgie orale"]}
ORG_KINDS = [("Pharmacie", "21", 30), ("Cabinet médical", "10", 15), ("Centre hospitalier", "10", 10),
             ("Laboratoire", "86", 8), ("Cabinet infirmier", "60", 15), ("EHPAD", "60", 8),
             ("Clinique", "10", 6), ("Maison de santé", "10", 8)]
ORG_SERVICES = ["Secrétariat", "Urgences", "Cardiologie", "Pédiatrie", "Radiologie", "Accueil",
                "Bloc opératoire", "Médecine interne", "Gériatrie"]
ORG_NAMES = ["du Centre", "de la Gare", "des Arcades", "Saint-Jacques", "du Marché", "des Remparts",
             "de l'Hôtel de Ville", "Pasteur", "des Cèdres", "du Parc", "Sainte-Marie", "du Lac"]


def fold(text):
    """Like text_fold() in authd/core/address.c: lower-case ASCII words."""
    out, word = [], []
    for ch in text:
        low = ch.lower()
        if low in ("œ", "æ"):
            word.append("oe" if low == "œ" else "ae")
            continue
        if low == "ß":
            word.append("ss")
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", low) if not unicodedata.combining(c))
        if base.isascii() and base.isalnum():
            word.append(base)
        elif word:
            out.append("".join(word))
            word = []
    if word:
        out.append("".join(word))
    return out


def luhn_key(digits):
    """The digit that makes digits + key pass Luhn."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def finess(dept, n):
    body = dept + "0" + "%05d" % (n % 100000)
    digits = body.replace("2A", "20").replace("2B", "20")
    return body + luhn_key(digits)


def search_keys(tag, text):
    return [w for w in fold(text)], ["%s:%s" % (tag, w) for w in fold(text)]


def ldif_value(attr, value):
    if value.isascii() and not value.startswith((" ", ":", "<")) and not value.endswith(" "):
        return "%s: %s\n" % (attr, value)
    import base64
    return "%s:: %s\n" % (attr, base64.b64encode(value.encode()).decode())


def unique(counters, base, tail):
    """base+tail, then base2+tail, base3+tail, ... like authd's collision candidates."""
    n = counters.get(base + tail, 0) + 1
    counters[base + tail] = n
    return "%s%s%s" % (base, n if n > 1 else "", tail)


def weighted(rng, items, idx=1):
    total = sum(i[idx] for i in items)
    x = rng.uniform(0, total)
    for i in items:
        x -= i[idx]
        if x <= 0:
            return i
    return items[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--suffix", default="dc=medimail,dc=test")
    ap.add_argument("--output", default="-")
    ap.add_argument("--uid-base", type=int, default=1000000)
    # ORGs' gidNumbers; the daemon's gid range is not its uid range (authd.conf gid_min)
    ap.add_argument("--gid-base", type=int, default=None, help="default: --uid-base")
    a = ap.parse_args()
    if a.gid_base is None:
        a.gid_base = a.uid_base
    if a.count < 1 or a.count > 10_000_000:
        ap.error("--count: 1 .. 10000000")
    rng = random.Random(a.seed)
    out = sys.stdout if a.output == "-" else open(a.output, "w", encoding="utf-8")
    people = "ou=people," + a.suffix
    orgs = "ou=orgs," + a.suffix
    used_login, used_addr = {}, {}
    person_dns = []
    stamp = "20240102030405Z"
    write = out.write
    for i in range(a.count):
        r = rng.random()
        kind = "PER" if r < 0.82 else "INT" if r < 0.84 else "MED" if r < 0.86 else "ORG"
        if kind == "ORG" and not person_dns:
            kind = "PER"
        s = rng.random()
        status = "active" if s < 0.97 else "suspended" if s < 0.98 else "pending-validation"
        city, postcode, dept = rng.choice(CITIES)
        street = "%d %s" % (rng.randint(1, 180), rng.choice(STREETS))
        phone = "0%d %02d %02d %02d %02d" % (rng.randint(1, 5), rng.randint(0, 99), rng.randint(0, 99),
                                             rng.randint(0, 99), rng.randint(0, 99))
        plain, tagged = [], []
        e = []
        if kind == "ORG":
            okind, prof, _ = weighted(rng, ORG_KINDS, 2)
            name = "%s %s" % (okind, rng.choice(ORG_NAMES))
            login = unique(used_login, "-".join(fold(name))[:25], "")
            dn = "uid=%s,%s" % (login, orgs)
            fid = finess(dept, i)
            e += ["objectClass: mmAccount\n", "uid: %s\n" % login, "mmAccountType: ORG\n",
                  ldif_value("cn", name), ldif_value("displayName", name), ldif_value("o", name),
                  "mmStructIdType: FINESS\n", "mmStructId: %s\n" % fid,
                  ldif_value("description", "%s, %s %s" % (name, city, postcode))]
            if rng.random() < 0.3:
                e.append(ldif_value("ou", rng.choice(ORG_SERVICES)))
            resp = rng.choice(person_dns)
            e.append("mmMember: %s\n" % resp[0])
            e += [ldif_value("mmRespSn", resp[1]), ldif_value("mmRespGivenName", resp[2]),
                  "mmRespProfession: %s\n" % resp[3], "mmRespRpps: %s\n" % resp[4]]
            p, t = search_keys("n", name)
            plain += p
            tagged += t
            tagged += search_keys("o", name)[1]
            local = ".".join(fold(name))[:40] + "." + postcode + "." + ".".join(fold(city))
            domain = [d for c, _, d in PROFESSIONS if c == prof][0] + ".oc.mssante.fr"
            mail_local = "contact." + ".".join(fold(name))[:40]
            if status == "active":
                e.append("gidNumber: %d\n" % (a.gid_base + i))
        else:
            sn = rng.choice(SURNAMES)
            given = rng.choice(GIVEN)
            prof, _, domain_key = weighted(rng, PROFESSIONS)
            login = unique(used_login, ("%s.%s" % ("-".join(fold(given)), "-".join(fold(sn))))[:25], "")
            dn = "uid=%s,%s" % (login, people)
            e += ["objectClass: mmAccount\n", "uid: %s\n" % login, "mmAccountType: %s\n" % kind,
                  ldif_value("sn", sn), ldif_value("givenName", given),
                  ldif_value("cn", "%s %s" % (given, sn)), ldif_value("displayName", "%s %s" % (given, sn))]
            if kind != "MED":
                e.append("mmProfessionCode: %s\n" % prof)
            if prof in SPECIALITIES and kind != "MED":
                e.append(ldif_value("mmSpeciality", rng.choice(SPECIALITIES[prof])))
            rpps = None
            if kind == "PER":
                body = "1%09d" % (i + 1)
                rpps = body + luhn_key(body)
                e += ["mmRpps: %s\n" % rpps, "mmNationalId: 8%s\n" % rpps]
            elif kind == "INT":
                e += ["mmStructIdType: FINESS\n", "mmStructId: %s\n" % finess(dept, i)]
            else:
                e.append(ldif_value("o", "Cabinet %s" % sn))
                tagged += search_keys("o", "Cabinet %s" % sn)[1]
            for tag, text in (("g", given), ("n", sn)):
                p, t = search_keys(tag, text)
                plain += p
                tagged += t
            local = "%s.%s" % ("-".join(fold(given)), "-".join(fold(sn)))
            domain = domain_key + ".oc.mssante.fr"
            mail_local = local
            if rpps and status == "active":
                person_dns.append((dn, sn, given, prof, rpps))
                if len(person_dns) > 5000:
                    person_dns.pop(rng.randrange(len(person_dns)))
            if status == "active":
                e += ["uidNumber: %d\n" % (a.uid_base + i), "gidNumber: 100\n",
                      "homeDirectory: /home/%s\n" % login, "loginShell: /bin/bash\n"]
        login_mail = "%s.%d@example-sante.fr" % (mail_local, i)
        e += ["mmStatus: %s\n" % status, "mmLoginMail: %s\n" % login_mail, "mail: %s\n" % login_mail,
              "mmRegisteredAt: %s\n" % stamp, ldif_value("telephoneNumber", phone),
              ldif_value("street", street), "postalCode: %s\n" % postcode, ldif_value("l", city),
              "mmDepartment: %s\n" % dept, "mmDematerialisation: TRUE\n"]
        if dept in REGION:
            e.append("mmRegion: %s\n" % REGION[dept])
        e.append("mmVisibleMedimail: %s\n" % ("FALSE" if rng.random() < 0.03 else "TRUE"))
        if kind != "MED":
            e.append("mmVisibleMssante: %s\n" % ("FALSE" if rng.random() < 0.05 else "TRUE"))
            if status != "pending-validation":
                addr = unique(used_addr, local, "@" + domain)
                e.append("mmMssAddress: %s\n" % addr)
            e.append("mmValidatedAt: %s\n" % stamp if status != "pending-validation" else "")
        plain += fold(city)
        tagged += search_keys("c", city)[1] + search_keys("s", street)[1]
        seen = set()
        keys = []
        for k in plain + tagged:
            if k not in seen:
                seen.add(k)
                keys.append(k)
        write("dn: %s\n" % dn)
        write("".join(e))
        write("".join("mmSearchKey: %s\n" % k for k in keys))
        write("\n")
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
