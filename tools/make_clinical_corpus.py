#!/usr/bin/env python3
"""Write the bundled clinical text sets in compress/data/.

Everything here was written for this repo: fictional, generic clinical language, no patient data, nothing downloaded.
Hand-written sentences (stored below as lists, and for the corpus in tools/corpus_sentences/*.txt, one per line) are
mixed with lines built from templates and slot vocabularies (complaints, history, exam, vitals, labs with units,
imaging, ECG, medications, allergies, plans, discharge instructions, nursing notes, common abbreviations).

Deterministic: fixed seeds, stdlib only, no iteration over sets. `python tools/make_clinical_corpus.py` rewrites the
committed files byte for byte; `--check` only compares them.

  clinical_calib.txt   hand-written + template lines; quantization calibration
  clinical_eval.txt    hand-written + template lines; shares no line with calib or corpus (held out)
  clinical_corpus.txt  hand-written corpus sentences + template lines + calib + demo documents; distillation and
                       vocabulary statistics
  demo_documents.txt   40 note snippets, one condition each; semantic-search demo
  demo_queries.txt     12 lay complaints <TAB> 1-based line number of the matching document
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "compress" / "data"
# Hand-written corpus sentences by topic (emergency, primary care, patients' own words, ...): 300 fictional lines per
# file, drafted for this repo by AI writing assistants from a topic brief, without access to the evaluation split;
# generate() rejects lines out of shape, duplicates and evaluation lines. Template lines alone
# teach a student the templates: a 3-layer MiniLM student reached 0.988 mean cosine on corpus lines, 0.975 on held-out
# template lines and 0.932 on held-out hand-written ones.
CORPUS_SENTENCES_DIR = Path(__file__).resolve().parent / "corpus_sentences"
SEED = 20240611
N_CALIB_TEMPLATE = 250
N_EVAL_TEMPLATE = 150
N_CORPUS_TEMPLATE = 4400
MIN_WORDS, MAX_WORDS = 3, 60

# ---- hand-written sentences ----------------------------------------------------------------------------------------

CALIB_HANDWRITTEN = [
    "Patient is a 67-year-old man with a long history of hypertension who presents with two days of worsening exertional dyspnea.",
    "She reports that the headache began suddenly while lifting weights and was the worst of her life.",
    "No focal neurological deficit on examination; cranial nerves II to XII are intact.",
    "Abdomen is soft and non-distended with mild tenderness in the epigastrium and no guarding.",
    "The wound edges are well approximated with no erythema, discharge or dehiscence.",
    "Chest X-ray shows a left lower lobe consolidation with a small parapneumonic effusion.",
    "He was started on IV ceftriaxone and azithromycin for community-acquired pneumonia.",
    "Blood cultures drawn prior to antibiotics remain no growth at 48 hours.",
    "Mother reports the child has been pulling at his right ear and not sleeping well for three nights.",
    "Patient was counselled on smoking cessation and given a referral to the quit line.",
    "Her HbA1c has improved from 9.4% to 7.6% since metformin was increased.",
    "The patient denies fevers, chills, night sweats or unintentional weight loss.",
    "Mild bilateral pitting edema to the mid-shin; JVP estimated at 10 cm.",
    "Echocardiogram demonstrates an ejection fraction of 35% with global hypokinesis.",
    "Knee aspiration yielded cloudy yellow fluid, sent for cell count, crystals and culture.",
    "Plan to discharge home tomorrow if tolerating oral intake and pain is controlled on oral analgesia.",
    "Left ventricular hypertrophy by voltage criteria with repolarisation changes.",
    "Pt c/o intermittent palpitations x 3 wks, worse with caffeine, no syncope.",
    "Patient is alert and oriented to person, place and time, and follows commands appropriately.",
    "She has been taking ibuprofen several times a day for back pain over the last month.",
    "Skin is warm and dry with no rashes, petechiae or bruising noted.",
    "Urine dipstick positive for leukocytes and nitrites; sample sent for culture.",
    "He describes the pain as a dull ache in the lower back that worsens after prolonged sitting.",
    "Fetal heart rate 140 bpm with moderate variability and accelerations present.",
    "Post-operative day two following laparoscopic cholecystectomy, tolerating a regular diet.",
    "The patient was given written and verbal instructions on how to use the inhaler with a spacer.",
    "Capillary refill under two seconds; peripheral pulses palpable and symmetric.",
    "Screening colonoscopy recommended at age 45 given family history.",
    "MRI lumbar spine shows an L4-L5 disc protrusion contacting the traversing left L5 nerve root.",
    "Reports feeling anxious and on edge most days, with difficulty falling asleep.",
    "Denies suicidal or homicidal ideation, intent or plan.",
    "Hemoglobin dropped to 7.2 g/dL; one unit of packed red cells transfused without reaction.",
    "Swallow evaluation recommends a soft diet with thin liquids and upright positioning for meals.",
    "Follow up with cardiology in two weeks for Holter monitor results.",
    "Creatinine has returned to baseline after holding lisinopril and giving IV fluids.",
    "On auscultation there are fine bibasilar crackles without wheeze.",
    "The rash is maculopapular, non-pruritic and started on the trunk before spreading to the limbs.",
    "Toddler is playful and well hydrated with moist mucous membranes.",
    "Mammogram: BI-RADS 2, benign findings; routine annual screening.",
    "He lives alone, walks with a cane and still manages his own medications.",
    "Occupational therapy assessed the patient for home safety and recommended grab bars in the bathroom.",
    "Sodium 128 mmol/L, likely related to the thiazide diuretic; fluid restriction advised.",
    "Sharp, stabbing chest pain that is worse lying flat and better sitting forward.",
    "Diffuse ST elevation with PR depression, consistent with pericarditis.",
    "Pain controlled with acetaminophen 1 g every six hours and oxycodone as needed.",
    "The patient is a poor historian; collateral history obtained from her daughter.",
    "Incision site clean, dry and intact; staples to be removed at day ten.",
    "Patient declined the influenza vaccine today after discussion of risks and benefits.",
    "Thyroid is non-tender with no palpable nodules.",
    "Bowel sounds present in all four quadrants.",
    "Refer to physiotherapy for gait and balance training after two falls at home.",
    "Blood pressure today 152/94; repeat readings at home requested before changing medication.",
    "He admits to drinking about six beers a night and last drank yesterday evening.",
    "CIWA score 12 at 0600; lorazepam given per protocol.",
    "Right tympanic membrane is erythematous and bulging with loss of the light reflex.",
    "Strep rapid antigen test negative; throat culture sent.",
    "Glucose 48 mg/dL at 0300, treated with juice and rechecked at 112 mg/dL.",
    "Admitted for management of COPD exacerbation with increased sputum purulence.",
    "Spirometry shows an FEV1/FVC ratio of 0.62 with partial reversibility after bronchodilator.",
    "Continue home insulin glargine at a reduced dose of 18 units nightly while eating poorly.",
    "The patient asks whether she can return to running after her ankle sprain.",
    "Ankle X-ray negative for fracture; rest, ice, compression, elevation and early mobilisation advised.",
    "There is a 2 cm firm, mobile, non-tender lump in the upper outer quadrant of the left breast.",
    "Colonoscopy found two small sessile polyps in the sigmoid colon, removed by cold snare.",
    "Pathology: tubular adenoma with low-grade dysplasia; margins clear.",
    "CT abdomen shows acute uncomplicated sigmoid diverticulitis without abscess.",
    "Clear liquid diet advanced as tolerated; oral antibiotics to complete a seven-day course.",
    "Cognitive screen score 22 out of 30, with deficits in recall and executive function.",
    "Family meeting held to discuss goals of care; patient wishes to focus on comfort.",
    "DNR/DNI status confirmed with patient and health care proxy.",
    "Hospice referral placed and palliative care following for symptom management.",
    "Patient feels short of breath walking up one flight of stairs, which is new over the past month.",
    "Denies orthopnea but sleeps in a recliner because of back pain.",
    "Peak flow 280 L/min, about 60% of personal best.",
    "Nebulised salbutamol and ipratropium given with good effect; wheeze much reduced.",
    "Urine pregnancy test negative.",
    "Transvaginal ultrasound shows a single live intrauterine pregnancy consistent with 8 weeks.",
    "Patient is G2P1 at 28 weeks with an uncomplicated pregnancy so far.",
    "Glucose tolerance test at 26 weeks was within normal limits.",
    "Newborn feeding well at the breast every two to three hours with six wet nappies a day.",
    "Mild physiological jaundice; bilirubin below the phototherapy threshold.",
    "Immunisations up to date for age.",
    "Teen reports being bullied at school and has stopped wanting to attend classes.",
    "Safety plan completed and crisis line number provided.",
    "Patient started sertraline 50 mg daily two weeks ago and reports mild nausea.",
    "Lithium level 0.8 mmol/L, within therapeutic range.",
    "Patient presents after a mechanical fall from standing; did not hit head, no loss of consciousness.",
    "Tenderness over the left fifth metatarsal base; X-ray ordered.",
    "Right hip is shortened and externally rotated.",
    "Plan for operative fixation of the intertrochanteric fracture tomorrow morning.",
    "Post-op: pain 4/10, voiding spontaneously, ambulating with walker and physio.",
    "Wound culture grew methicillin-sensitive Staphylococcus aureus.",
    "Switched from IV cefazolin to oral cephalexin to complete 10 days.",
    "Patient reports a burning pain in the feet that is worse at night.",
    "Monofilament sensation reduced bilaterally to the ankles.",
    "Dilated eye exam shows mild non-proliferative diabetic retinopathy.",
    "Urine albumin-to-creatinine ratio elevated at 86 mg/g.",
    "Start empagliflozin for renal and cardiac protection; counselled on genital hygiene and sick-day rules.",
    "Potassium 5.8 mmol/L on repeat; ECG shows no peaked T waves.",
    "Sodium polystyrene sulfonate given and spironolactone held.",
    "Dialysis access: left arm AV fistula with good thrill and bruit.",
    "Patient missed two dialysis sessions and presents with dyspnea and fluid overload.",
    "Liver function tests show a cholestatic pattern with alkaline phosphatase of 420 U/L.",
    "Ultrasound shows a dilated common bile duct measuring 11 mm with choledocholithiasis.",
    "ERCP with sphincterotomy and stone extraction performed without complication.",
    "Patient reports black stools for three days and feeling lightheaded on standing.",
    "Orthostatic vitals positive: HR rises from 88 to 118 on standing.",
    "Two large-bore IVs placed; type and cross for two units.",
    "Upper endoscopy revealed a clean-based duodenal ulcer; H. pylori biopsy taken.",
    "Start pantoprazole 40 mg twice daily for eight weeks.",
    "Rectal exam: brown stool, guaiac negative, no masses.",
    "Lipase elevated at 1,240 U/L; presentation consistent with acute pancreatitis.",
    "Aggressive fluid resuscitation with lactated Ringer's and NPO for now.",
    "Patient notes a new mole on the back that has changed shape and bleeds occasionally.",
    "Dermoscopy shows an asymmetric lesion with irregular pigment network; excisional biopsy arranged.",
    "Itchy red patches in the flexures of the elbows and knees since childhood.",
    "Emollients twice daily and a mid-potency topical steroid for flares.",
    "Painful, swollen and red area on the left lower leg spreading over two days, with fever.",
    "Border of erythema marked with a skin pen to monitor progression.",
    "Cellulitis improving on day three of antibiotics; erythema receding from the marked border.",
    "The patient has had a runny nose, sore throat and mild cough for four days.",
    "Viral upper respiratory infection likely; supportive care and fluids advised.",
    "Rapid influenza A positive; oseltamivir prescribed given symptom onset under 48 hours.",
    "SARS-CoV-2 PCR negative.",
    "Lumbar puncture: opening pressure normal, CSF clear, WBC 2, protein and glucose normal.",
    "MRI brain with and without contrast shows scattered periventricular white matter lesions.",
    "Referred to neurology for evaluation of possible demyelinating disease.",
    "Patient describes episodes of spinning dizziness lasting seconds when turning over in bed.",
    "Dix-Hallpike positive on the right; Epley manoeuvre performed in clinic.",
    "Hearing test shows mild high-frequency sensorineural loss bilaterally.",
    "Visual acuity 20/40 right eye, 20/25 left eye with correction.",
    "Intraocular pressure within normal limits bilaterally.",
    "Patient is on warfarin; INR today is 3.6, dose held tonight and reduced.",
    "Bridging with enoxaparin not required for this low-risk procedure.",
    "Preoperative assessment: functional capacity greater than 4 METs, no further cardiac testing needed.",
    "Airway: Mallampati II, full dentition, normal neck extension.",
    "Extubated in the recovery room without difficulty and transferred to the ward.",
    "Sedation: patient is drowsy but rousable to voice, RASS -1.",
    "Central line placed in the right internal jugular under ultrasound guidance; tip confirmed on X-ray.",
    "Norepinephrine weaned off overnight; mean arterial pressure above 65 mmHg.",
    "Lactate cleared from 4.2 to 1.6 mmol/L after fluids.",
    "Tolerating tube feeds at goal rate of 60 mL per hour.",
    "Turned every two hours; stage 2 pressure injury on the sacrum dressed with foam.",
    "Fall risk high; bed alarm on and call bell within reach.",
    "Patient educated about signs of infection and when to call the clinic.",
    "Please take this medicine with food to avoid an upset stomach.",
    "Do not drive or operate machinery for 24 hours after sedation.",
    "Keep the splint dry and elevate your arm above the level of your heart.",
    "Call 911 if you have chest pain, trouble breathing or weakness on one side of the body.",
    "Your blood tests today were normal, and no changes to your medicines are needed.",
    "I have had a cough for three weeks and now I'm bringing up green phlegm.",
    "My knee gives way when I go down stairs and it clicks a lot.",
    "My daughter has had a temperature of 39 since last night and won't eat.",
    "I get heartburn almost every night after dinner, even when I eat small meals.",
    "Can I take ibuprofen with my blood thinner?",
    "Telephone note: patient called requesting a refill of levothyroxine; sent to pharmacy.",
    "Referral letter: kindly assess this 54-year-old woman with progressive hand joint pain and morning stiffness lasting over an hour.",
    "Rheumatoid factor and anti-CCP antibodies positive; ESR 48 mm/h.",
    "Hand X-rays show periarticular osteopenia and early erosions at the MCP joints.",
    "Discharge summary: admitted with decompensated heart failure, diuresed 4 kg with IV furosemide, discharged on an increased oral dose.",
    "Weigh yourself every morning and call if you gain more than 2 kg in three days.",
    "Low-salt diet under 2 grams of sodium per day discussed with patient and spouse.",
    "Patient works night shifts in a warehouse and sleeps poorly during the day.",
    "Epworth sleepiness score 15; sleep study ordered for suspected obstructive sleep apnoea.",
    "Bone density scan shows a T-score of -2.7 at the femoral neck, consistent with osteoporosis.",
    "Start alendronate 70 mg weekly with calcium and vitamin D supplementation.",
    "PSA 6.2 ng/mL, up from 3.9 last year; urology referral placed.",
    "Testicular exam normal; no masses or tenderness.",
    "Nocturia three times nightly with a weak stream and hesitancy.",
    "Prostate is smoothly enlarged, non-tender, without nodules.",
    "Patient tolerated the procedure well and was observed for one hour without complications.",
    "Speech is fluent with normal comprehension and repetition.",
    "Gait is broad-based and unsteady; Romberg test positive.",
    "He has noticed that his handwriting has become smaller over the last year.",
    "A small amount of clear fluid is leaking from the surgical drain.",
    "Chest tube on water seal with no air leak; plan to remove tomorrow.",
    "Her asthma wakes her at night twice a week despite regular inhaler use.",
    "Grandmother brought the child in because of a barking cough that started after midnight.",
    "No acute distress; speaking in full sentences.",
    "Mucous membranes dry, skin turgor reduced.",
]

EVAL_HANDWRITTEN = [
    "A 72-year-old woman with atrial fibrillation presents with a sudden painful cold left leg.",
    "The foot is pale and pulseless below the popliteal artery; vascular surgery paged urgently.",
    "He reports a pressure-like chest discomfort that comes on with walking uphill and settles with rest.",
    "Exercise stress test was stopped at six minutes because of 2 mm ST depression in the lateral leads.",
    "Coronary angiography showed a 90% stenosis of the proximal LAD, treated with a drug-eluting stent.",
    "Dual antiplatelet therapy to continue for twelve months unless bleeding occurs.",
    "Patient states she has been coughing up small streaks of blood for a week.",
    "CT chest shows a spiculated 2.8 cm mass in the right upper lobe with hilar lymphadenopathy.",
    "Bronchoscopy with biopsy scheduled; patient informed of the findings with her son present.",
    "The patient smoked a pack a day for forty years and quit five years ago.",
    "Oxygen saturation drops to 86% on walking, recovering to 93% at rest.",
    "Home oxygen assessment arranged and pulmonary rehab referral sent.",
    "Pain began around the navel last night and has now settled in the right lower abdomen.",
    "McBurney point tenderness with positive Rovsing sign; surgical review requested.",
    "Ultrasound shows a non-compressible appendix measuring 9 mm with surrounding fat stranding.",
    "Laparoscopic appendectomy performed; appendix was inflamed but not perforated.",
    "Vomiting with no bowel movement or flatus for two days after prior abdominal surgery.",
    "Abdominal X-ray shows dilated small bowel loops with air-fluid levels.",
    "Nasogastric tube placed for decompression with 800 mL of bilious output.",
    "Tender, irreducible lump in the right groin that appeared while coughing.",
    "She describes crampy lower abdominal pain and loose stools up to eight times a day.",
    "Stool studies including C. difficile toxin sent; patient placed on contact precautions.",
    "Fecal calprotectin markedly elevated at 950 mcg/g.",
    "The child has had watery diarrhoea and vomiting since yesterday and fewer wet nappies.",
    "Mildly dehydrated; trial of oral rehydration solution in small frequent sips.",
    "Infant is feeding poorly, irritable and has a bulging anterior fontanelle.",
    "Weight and length are tracking along the 50th centile.",
    "The boy wheezes whenever he has a cold and coughs at night.",
    "Start a low-dose inhaled corticosteroid via spacer and review in six weeks.",
    "Eczema on the cheeks and behind the knees; parents advised to use fragrance-free moisturiser.",
    "She is 34 weeks pregnant and has noticed the baby moving less since this morning.",
    "CTG reassuring with a baseline of 135 bpm and good variability.",
    "Blood pressure 150/100 with 2+ protein on urine dip at 35 weeks.",
    "Admitted for monitoring and started on oral labetalol; magnesium sulfate on standby.",
    "Spontaneous vaginal delivery of a healthy baby at 39 weeks; estimated blood loss 300 mL.",
    "Postpartum day one, fundus firm at the umbilicus, lochia moderate.",
    "She feels tearful and overwhelmed three weeks after giving birth and struggles to sleep even when the baby sleeps.",
    "Edinburgh Postnatal Depression Scale score of 16; perinatal mental health referral placed.",
    "He hears voices telling him that his neighbours are poisoning his food.",
    "Thought process is tangential with poor insight into his illness.",
    "Started on a low dose of an antipsychotic and admitted to the psychiatric unit voluntarily.",
    "Patient describes racing thoughts, little need for sleep and spending large sums of money this week.",
    "Panic attacks with a pounding heart and fear of dying, occurring several times a week.",
    "Cognitive behavioural therapy referral discussed; patient agrees to try it.",
    "PHQ-9 score 18 indicating moderately severe depression.",
    "Alcohol use disorder; interested in naltrexone and outpatient counselling.",
    "Urine drug screen positive for opiates and benzodiazepines.",
    "Naloxone kit provided and overdose prevention education given.",
    "He woke up unable to move his right arm and his speech was garbled.",
    "Last known well was 10 pm yesterday; outside the thrombolysis window.",
    "CT angiogram shows occlusion of the left middle cerebral artery M1 segment.",
    "NIHSS 14 on arrival; taken for mechanical thrombectomy.",
    "Brief episode of left-hand numbness and clumsiness that fully resolved after twenty minutes.",
    "Carotid duplex shows 70-79% stenosis of the right internal carotid artery.",
    "Progressive forgetfulness over two years; she now gets lost driving to familiar places.",
    "Bilateral hand tingling at night relieved by shaking the hands.",
    "Positive Tinel and Phalen signs at the wrists; nerve conduction studies requested.",
    "Her legs feel heavy and numb, and she has had trouble controlling her bladder since yesterday.",
    "Reduced perianal sensation and saddle anaesthesia; emergency MRI of the spine arranged.",
    "He has had twitching in his calves and weakness in his hands getting worse over months.",
    "The headache is present on waking, worse with coughing and associated with morning vomiting.",
    "Fundoscopy shows bilateral papilloedema.",
    "Double vision and drooping eyelids that get worse at the end of the day.",
    "Seizure lasted three minutes and stopped without medication; patient now drowsy but protecting his airway.",
    "Adherence to antiepileptic medication discussed; he had missed doses while travelling.",
    "Creatinine 2.9 mg/dL, up from 1.1 two days ago, after contrast and a course of NSAIDs.",
    "Renal ultrasound shows normal-sized kidneys without hydronephrosis.",
    "Foamy urine and swelling around the eyes in the mornings for two weeks.",
    "Urine protein 5.2 g per day with serum albumin of 2.2 g/dL.",
    "Kidney biopsy consistent with membranous nephropathy.",
    "eGFR 24 mL/min; discussion of renal replacement options started.",
    "Hyperkalemia 6.8 mmol/L with peaked T waves; calcium gluconate, insulin and dextrose given.",
    "Sudden inability to pass urine with lower abdominal pain; bladder scan 950 mL.",
    "Foley catheter inserted with immediate relief; trial without catheter in one week.",
    "Gross hematuria with clots in a 70-year-old former smoker.",
    "Cystoscopy arranged to rule out a bladder tumour.",
    "Shaky, sweaty and confused before lunch; fingerstick glucose 42 mg/dL.",
    "His insulin dose was reduced after two overnight hypoglycaemic episodes.",
    "Thirsty, weak and confused older man with glucose of 880 mg/dL and serum osmolality 350.",
    "Feeling tired all the time with weight gain and hair thinning over six months.",
    "TSH 42 mIU/L with a low free T4; levothyroxine started at 50 mcg daily.",
    "Fine tremor, heat intolerance and frequent loose stools; heart rate 118.",
    "Diffuse goitre with a bruit; TSH receptor antibodies positive.",
    "Fatigue, salt craving and darkening of the skin creases; morning cortisol low.",
    "Hypercalcaemia 12.1 mg/dL with an elevated parathyroid hormone.",
    "Moon face, easy bruising and purple abdominal striae.",
    "Acute onset of a swollen, exquisitely painful ankle in a man on hydrochlorothiazide.",
    "Joint fluid shows negatively birefringent needle-shaped crystals.",
    "Morning stiffness in the lower back that improves with exercise, in a 26-year-old man.",
    "Sacroiliitis on MRI; HLA-B27 positive.",
    "Painful shoulder with restricted external rotation in a patient with diabetes.",
    "Pain on the outside of the elbow when gripping a cup or turning a door handle.",
    "Twisted his knee playing football; heard a pop and the knee swelled within an hour.",
    "Positive Lachman test with a soft end point.",
    "Elderly woman with sudden back pain after lifting a bag of shopping.",
    "X-ray shows a wedge compression fracture of T12.",
    "Wrist fracture after a fall on ice, displaced distal radius, reduced under haematoma block.",
    "Plaster cast applied; check circulation, sensation and movement of the fingers regularly.",
    "Fever, chills and shaking with a new heart murmur in a person who injects drugs.",
    "Transoesophageal echo shows a vegetation on the tricuspid valve.",
    "Six weeks of IV antibiotics planned via a PICC line.",
    "Returned from a trip abroad with fevers every other day and headaches.",
    "Thick and thin blood films requested to look for malaria parasites.",
    "Night sweats, weight loss and a cough lasting two months.",
    "Sputum for acid-fast bacilli sent; patient placed in an airborne isolation room.",
    "HIV viral load undetectable; CD4 count 640 cells/uL.",
    "Vaccination history reviewed and pneumococcal vaccine offered.",
    "Painless genital ulcer noted two weeks after unprotected sex.",
    "Syphilis serology positive; single dose of benzathine penicillin given.",
    "Urethral discharge and dysuria; NAAT sent for gonorrhoea and chlamydia.",
    "Itchy vesicles between the fingers and on the wrists, with family members also itching.",
    "Permethrin cream applied to the whole body and repeated in one week.",
    "Honey-coloured crusts around the nose and mouth of a five-year-old.",
    "Raised pearly nodule with rolled edges and telangiectasia on the nose.",
    "Sudden widespread hives after starting a new antibiotic, without lip swelling or breathing difficulty.",
    "Antibiotic stopped, allergy recorded and oral antihistamine prescribed.",
    "Collapsed after a bee sting with wheeze, swollen lips and a blood pressure of 70/40.",
    "Intramuscular adrenaline 0.5 mg given into the anterolateral thigh with rapid improvement.",
    "Red, gritty eye with sticky discharge that glued the lashes together this morning.",
    "Sudden painless loss of vision in the left eye like a curtain coming down.",
    "Ear feels blocked and hearing reduced after swimming; canal is swollen and tender.",
    "Nosebleed from the left nostril for 30 minutes, controlled with pressure and packing.",
    "Hoarse voice for six weeks in a heavy smoker; ENT review with laryngoscopy requested.",
    "Tongue and lip swelling without hives in a patient taking an ACE inhibitor.",
    "Unexplained iron deficiency anaemia in a 68-year-old man; upper and lower endoscopy booked.",
    "Platelets 18 x10^9/L with petechiae on the legs and gum bleeding.",
    "Blood film shows blasts; haematology consulted urgently.",
    "Painless enlarged lymph nodes in the neck and armpits with drenching night sweats.",
    "Sickle cell crisis with pain in the back and legs; IV fluids, oxygen and opioid analgesia.",
    "Anticoagulation with apixaban started for a provoked DVT, planned for three months.",
    "Ventilation-perfusion scan shows a high probability of pulmonary embolism.",
    "Regular narrow complex tachycardia at 160 terminated with vagal manoeuvres.",
    "Complete heart block on the monitor with a rate of 34; pacing pads applied.",
    "Syncope while standing in a queue, preceded by warmth, nausea and tunnel vision.",
    "Loud ejection systolic murmur radiating to the carotids; echo shows severe aortic stenosis.",
    "Sudden tearing pain between the shoulder blades with unequal arm blood pressures.",
    "CT angiogram confirms a type A aortic dissection; cardiothoracic surgery contacted.",
    "Pulsatile mass felt in the abdomen; ultrasound measures the aorta at 5.8 cm.",
    "Cramp in the calf after walking 100 metres that goes away after a minute of rest.",
    "Ankle-brachial index 0.62 on the right.",
    "Nurse note: patient restless overnight, pulled at IV line, reoriented several times.",
    "Delirium screen positive; reviewed medications and removed the urinary catheter.",
    "Patient ate half of breakfast and drank two cups of tea.",
    "Dressing changed; small amount of serous drainage, no odour.",
    "Son visited in the afternoon and is arranging care at home after discharge.",
    "Your X-ray showed no broken bones, so you can put weight on the foot as pain allows.",
    "Take the antibiotic until all the tablets are finished, even if you feel better.",
    "Come back straight away if the baby has a fever, is floppy or stops feeding.",
    "I keep waking up gasping for air and my wife says I stop breathing when I snore.",
    "My ankles swell up by the end of the day and my shoes feel tight.",
    "Is it safe to get the shingles vaccine while I am on methotrexate?",
    "I have a burning feeling in my stomach and I vomited something that looked like coffee grounds.",
]

# One condition per document; queries name their document by 1-based line number.
DEMO_DOCUMENTS = [
    "Crushing substernal chest pain radiating to the left arm with diaphoresis.",
    "Productive cough, fever and right lower lobe crackles.",
    "Wheezing and prolonged expiration after exposure to cat dander, relieved by an albuterol nebulizer.",
    "Sudden onset right-sided weakness, facial droop and expressive aphasia.",
    "Periumbilical pain migrating to the right lower quadrant with rebound tenderness.",
    "Painless jaundice, dark urine and pale stools with weight loss.",
    "Burning dysuria, urinary frequency and suprapubic discomfort.",
    "Colicky flank pain radiating to the groin with microscopic hematuria.",
    "Polyuria, polydipsia, fruity breath odour and a blood glucose of 540 mg/dL.",
    "Heat intolerance, palpitations, fine tremor and weight loss with a suppressed TSH.",
    "Well-demarcated silvery scaly plaques on the extensor surfaces of the elbows and knees.",
    "Expanding red annular rash with central clearing after a tick bite.",
    "Low mood, anhedonia, early morning waking and poor appetite for two months.",
    "Auditory hallucinations and persecutory delusions with social withdrawal.",
    "Painless bright red vaginal bleeding at 32 weeks of gestation.",
    "Headache, visual disturbance, blood pressure 168/110 and proteinuria at 36 weeks of pregnancy.",
    "Acutely swollen, hot, red first metatarsophalangeal joint.",
    "Low back pain radiating down the posterior leg below the knee with a positive straight leg raise.",
    "Fall on an outstretched hand with anatomical snuffbox tenderness.",
    "Barking cough, inspiratory stridor and hoarse voice in a two-year-old.",
    "Projectile non-bilious vomiting after feeds in a five-week-old infant with an olive-shaped epigastric mass.",
    "Fever, neck stiffness, photophobia and a non-blanching petechial rash.",
    "Unilateral calf swelling and tenderness after a long-haul flight.",
    "Sudden pleuritic chest pain and breathlessness with tachycardia ten days after hip replacement.",
    "Irregularly irregular pulse with palpitations; ECG shows atrial fibrillation with no P waves.",
    "Bilateral ankle edema, orthopnea and paroxysmal nocturnal dyspnea.",
    "Coffee-ground emesis and black tarry stools in a patient taking NSAIDs.",
    "Retrosternal burning and acid regurgitation after meals, worse lying flat.",
    "Bloody diarrhea with abdominal cramps and tenesmus for three weeks.",
    "Creatinine rose from 1.0 to 3.4 mg/dL with oliguria and potassium 6.1 mmol/L.",
    "Generalized tonic-clonic seizure with tongue biting and postictal confusion.",
    "Resting pill-rolling tremor, bradykinesia and cogwheel rigidity.",
    "Unilateral throbbing headache preceded by a zigzag visual aura, with nausea.",
    "Fatigue, pallor and spoon-shaped nails with low ferritin and microcytosis.",
    "Red painful eye with blurred vision, halos around lights and a fixed mid-dilated pupil.",
    "Ear pain, fever and a bulging red tympanic membrane in a toddler.",
    "Sore throat, tonsillar exudate, tender anterior cervical nodes and fever without cough.",
    "Excessive uncontrollable worry, restlessness and muscle tension most days for over six months.",
    "Fatigue, weight gain, cold intolerance, constipation and dry skin with a raised TSH.",
    "Painful vesicular rash in a band along one side of the chest wall.",
]

DEMO_QUERIES = [
    ("my chest feels like an elephant is sitting on it and I'm sweating buckets", 1),
    ("my little boy sounds like a seal when he coughs and makes a squeaky noise breathing in", 20),
    ("it stings when I wee and I need to go every half hour", 7),
    ("agonising pain in my side that comes in waves and shoots down towards my privates", 8),
    ("I've felt down for weeks, nothing makes me happy anymore and I wake up at 4am", 13),
    ("my big toe swelled up overnight, it's red and hot and I can't even bear the bedsheet on it", 17),
    ("there's a red ring getting bigger on my leg since I pulled a tick off last month", 12),
    ("my skin and the whites of my eyes have gone yellow and my poo is almost white", 6),
    ("I'm thirsty all the time, peeing constantly and my breath smells like nail polish remover", 9),
    ("mum's face suddenly drooped on one side, her right arm went floppy and she can't get her words out", 4),
    ("I'm eight months pregnant with a pounding headache, I'm seeing flashing spots and my feet are puffy", 16),
    ("a painful stripe of blisters wrapping around one side of my ribs", 40),
]

# ---- slot vocabularies -----------------------------------------------------------------------------------------------

# (complaint, short form, qualities, associated symptoms, pertinent negatives, assessments, work-up)
COMPLAINTS = [
    ("chest pain", "CP", ["pressure-like", "sharp", "burning", "squeezing", "tight", "dull", "intermittent"],
     ["diaphoresis", "nausea", "shortness of breath", "radiation to the left arm", "radiation to the jaw",
      "lightheadedness"],
     ["fever", "cough", "leg swelling", "recent travel", "syncope", "reproducible chest wall tenderness"],
     ["acute coronary syndrome", "stable angina", "musculoskeletal chest pain", "GERD", "pericarditis",
      "NSTEMI", "chest pain of unclear etiology"],
     ["serial troponins", "12-lead ECG", "CXR", "lipid panel", "stress test", "echocardiogram", "D-dimer"]),
    ("shortness of breath", "SOB", ["progressive", "exertional", "sudden-onset", "intermittent", "nocturnal"],
     ["orthopnea", "PND", "bilateral leg swelling", "wheezing", "productive cough", "chest tightness", "fatigue"],
     ["chest pain", "hemoptysis", "fever", "calf pain", "recent surgery"],
     ["acute decompensated heart failure", "COPD exacerbation", "asthma exacerbation", "pulmonary embolism",
      "community-acquired pneumonia", "volume overload"],
     ["CXR", "BNP", "ABG", "CT pulmonary angiogram", "echocardiogram", "peak flow", "spirometry"]),
    ("cough", "cough", ["dry", "productive", "persistent", "nocturnal", "barking", "worsening"],
     ["green sputum", "fever", "pleuritic chest pain", "rhinorrhea", "sore throat", "post-tussive emesis",
      "night sweats"],
     ["hemoptysis", "weight loss", "sick contacts", "shortness of breath at rest"],
     ["viral URI", "acute bronchitis", "community-acquired pneumonia", "postnasal drip", "cough-variant asthma",
      "ACE inhibitor cough", "pertussis"],
     ["CXR", "sputum culture", "respiratory viral panel", "procalcitonin", "CBC"]),
    ("abdominal pain", "abd pain", ["crampy", "sharp", "colicky", "burning", "constant", "diffuse", "periumbilical"],
     ["nausea", "vomiting", "anorexia", "fever", "diarrhea", "constipation", "bloating"],
     ["hematochezia", "melena", "dysuria", "vaginal discharge", "prior abdominal surgery"],
     ["acute appendicitis", "biliary colic", "acute cholecystitis", "acute pancreatitis", "diverticulitis",
      "small bowel obstruction", "gastroenteritis", "peptic ulcer disease", "constipation"],
     ["CBC", "CMP", "lipase", "urinalysis", "CT abdomen/pelvis with contrast", "RUQ ultrasound", "beta-hCG"]),
    ("nausea and vomiting", "N/V", ["persistent", "intermittent", "postprandial", "non-bloody", "bilious"],
     ["abdominal cramping", "diarrhea", "poor oral intake", "lightheadedness", "headache"],
     ["hematemesis", "abdominal distension", "fever", "sick contacts"],
     ["viral gastroenteritis", "gastroparesis", "medication side effect", "hyperemesis gravidarum",
      "cannabinoid hyperemesis"],
     ["BMP", "lipase", "urinalysis", "beta-hCG", "abdominal X-ray"]),
    ("diarrhea", "diarrhea", ["watery", "bloody", "loose", "urgent", "nocturnal"],
     ["crampy abdominal pain", "fever", "tenesmus", "nausea", "recent antibiotic use"],
     ["travel", "melena", "weight loss", "sick contacts"],
     ["infectious gastroenteritis", "C. difficile colitis", "inflammatory bowel disease flare",
      "irritable bowel syndrome"],
     ["stool culture", "C. difficile PCR", "fecal calprotectin", "BMP", "CBC"]),
    ("headache", "HA", ["throbbing", "band-like", "pressure-like", "sudden-onset", "unilateral", "occipital"],
     ["photophobia", "phonophobia", "nausea", "visual aura", "neck stiffness", "scalp tenderness"],
     ["fever", "focal weakness", "head trauma", "worst headache of life", "jaw claudication"],
     ["migraine without aura", "tension-type headache", "medication overuse headache",
      "subarachnoid hemorrhage", "giant cell arteritis", "cluster headache"],
     ["CT head without contrast", "ESR and CRP", "lumbar puncture", "MRI brain"]),
    ("dizziness", "dizziness", ["spinning", "positional", "constant", "episodic", "presyncopal"],
     ["nausea", "tinnitus", "hearing loss", "unsteady gait", "palpitations"],
     ["diplopia", "dysarthria", "focal weakness", "chest pain", "syncope"],
     ["benign paroxysmal positional vertigo", "vestibular neuritis", "orthostatic hypotension",
      "medication side effect", "posterior circulation stroke"],
     ["orthostatic vitals", "Dix-Hallpike maneuver", "ECG", "MRI brain", "CBC"]),
    ("left-sided weakness", "L-sided weakness", ["sudden-onset", "progressive", "transient", "fluctuating"],
     ["facial droop", "slurred speech", "numbness", "visual field loss", "gait instability"],
     ["headache", "seizure activity", "head trauma", "fever"],
     ["acute ischemic stroke", "TIA", "intracerebral hemorrhage", "Todd paralysis", "complex migraine"],
     ["stat CT head", "CT angiogram head and neck", "MRI brain", "fingerstick glucose", "carotid duplex"]),
    ("fever", "fever", ["high-grade", "intermittent", "low-grade", "persistent", "spiking"],
     ["chills", "rigors", "myalgias", "malaise", "night sweats", "decreased appetite"],
     ["rash", "neck stiffness", "urinary symptoms", "cough", "recent travel"],
     ["sepsis of unclear source", "viral syndrome", "urinary tract infection", "influenza",
      "line-associated bloodstream infection", "fever without a source"],
     ["blood cultures x2", "lactate", "urinalysis with culture", "CXR", "respiratory viral panel"]),
    ("low back pain", "LBP", ["aching", "sharp", "radiating", "mechanical", "chronic", "acute"],
     ["sciatica", "muscle spasm", "pain with bending", "stiffness in the morning"],
     ["saddle anesthesia", "urinary retention", "bowel incontinence", "fever", "weight loss", "IV drug use"],
     ["mechanical low back pain", "lumbar radiculopathy", "lumbar strain", "spinal stenosis",
      "vertebral compression fracture"],
     ["lumbar spine X-ray", "MRI lumbar spine", "ESR and CRP", "physical therapy referral"]),
    ("joint pain and swelling", "joint pain", ["monoarticular", "polyarticular", "migratory", "symmetric",
                                               "intermittent"],
     ["morning stiffness", "warmth", "redness", "reduced range of motion", "fatigue"],
     ["trauma", "fever", "rash", "tick exposure", "urethral discharge"],
     ["gout flare", "septic arthritis", "osteoarthritis", "rheumatoid arthritis", "pseudogout",
      "reactive arthritis"],
     ["joint aspiration", "uric acid", "ESR and CRP", "rheumatoid factor", "X-ray of the affected joint"]),
    ("dysuria", "dysuria", ["burning", "painful", "new", "recurrent"],
     ["urinary frequency", "urgency", "suprapubic pain", "cloudy urine", "hematuria"],
     ["flank pain", "fever", "vaginal discharge", "nausea"],
     ["uncomplicated cystitis", "acute pyelonephritis", "urethritis", "prostatitis"],
     ["urinalysis", "urine culture", "STI testing", "post-void residual"]),
    ("flank pain", "flank pain", ["colicky", "severe", "intermittent", "right-sided", "left-sided"],
     ["radiation to the groin", "hematuria", "nausea", "vomiting", "restlessness"],
     ["fever", "dysuria", "abdominal distension"],
     ["nephrolithiasis", "ureteral stone with mild hydronephrosis", "pyelonephritis", "renal infarct"],
     ["CT abdomen/pelvis without contrast", "urinalysis", "BMP", "renal ultrasound"]),
    ("rash", "rash", ["pruritic", "painful", "blistering", "spreading", "raised", "scaly"],
     ["fever", "joint pain", "new medication", "mucosal involvement", "swelling"],
     ["difficulty breathing", "lip swelling", "skin peeling", "sick contacts"],
     ["contact dermatitis", "urticaria", "drug eruption", "cellulitis", "herpes zoster", "atopic dermatitis",
      "tinea corporis", "viral exanthem"],
     ["skin biopsy", "CBC with differential", "KOH prep", "photographs for comparison"]),
    ("palpitations", "palpitations", ["intermittent", "racing", "fluttering", "irregular", "sustained"],
     ["lightheadedness", "shortness of breath", "anxiety", "chest discomfort", "caffeine intake"],
     ["syncope", "chest pain", "weight loss", "heat intolerance"],
     ["atrial fibrillation with rapid ventricular response", "SVT", "sinus tachycardia",
      "premature ventricular contractions", "anxiety"],
     ["ECG", "Holter monitor", "TSH", "BMP with magnesium", "echocardiogram"]),
    ("syncope", "syncope", ["witnessed", "unwitnessed", "exertional", "positional", "recurrent"],
     ["prodrome of warmth", "nausea", "tunnel vision", "brief loss of consciousness", "rapid recovery"],
     ["tongue biting", "incontinence", "prolonged confusion", "chest pain", "palpitations before the event"],
     ["vasovagal syncope", "orthostatic syncope", "cardiac syncope", "seizure", "situational syncope"],
     ["ECG", "orthostatic vitals", "telemetry", "echocardiogram", "CBC", "fingerstick glucose"]),
    ("leg swelling", "LE edema", ["bilateral", "unilateral", "pitting", "progressive", "painful"],
     ["weight gain", "calf tenderness", "skin redness", "dyspnea on exertion", "orthopnea"],
     ["chest pain", "recent immobilization", "fever"],
     ["deep vein thrombosis", "venous insufficiency", "heart failure", "cellulitis",
      "calcium channel blocker edema", "nephrotic syndrome"],
     ["lower extremity venous duplex", "BNP", "albumin", "urinalysis for protein"]),
    ("confusion", "AMS", ["acute", "fluctuating", "worsening", "new"],
     ["agitation", "poor oral intake", "falls", "urinary incontinence", "somnolence"],
     ["head trauma", "focal weakness", "seizure activity", "new medications"],
     ["delirium", "urinary tract infection", "hypoglycemia", "hepatic encephalopathy", "hyponatremia",
      "medication toxicity"],
     ["CMP", "ammonia", "urinalysis", "CT head", "medication review", "TSH", "B12"]),
    ("fatigue", "fatigue", ["progressive", "persistent", "generalized", "chronic"],
     ["weight gain", "cold intolerance", "pallor", "shortness of breath on exertion", "poor sleep"],
     ["fever", "night sweats", "weight loss", "bleeding"],
     ["iron deficiency anemia", "hypothyroidism", "depression", "obstructive sleep apnea",
      "vitamin B12 deficiency"],
     ["CBC", "ferritin", "TSH", "B12 and folate", "CMP", "sleep study"]),
    ("depressed mood", "depressed mood", ["persistent", "worsening", "episodic", "severe"],
     ["anhedonia", "poor sleep", "low energy", "poor concentration", "decreased appetite", "guilt"],
     ["suicidal ideation", "psychotic symptoms", "manic episodes", "substance use"],
     ["major depressive disorder, moderate", "adjustment disorder", "bipolar depression",
      "persistent depressive disorder"],
     ["PHQ-9", "TSH", "safety assessment", "psychiatry referral"]),
    ("anxiety", "anxiety", ["constant", "episodic", "worsening", "situational"],
     ["palpitations", "restlessness", "muscle tension", "insomnia", "irritability", "avoidance"],
     ["chest pain", "substance use", "suicidal ideation", "weight loss"],
     ["generalized anxiety disorder", "panic disorder", "social anxiety disorder", "adjustment disorder"],
     ["GAD-7", "TSH", "ECG", "therapy referral"]),
    ("sore throat", "sore throat", ["severe", "scratchy", "unilateral", "progressive"],
     ["fever", "painful swallowing", "tender neck glands", "hoarseness", "rhinorrhea"],
     ["drooling", "trismus", "muffled voice", "cough"],
     ["viral pharyngitis", "streptococcal pharyngitis", "peritonsillar abscess", "infectious mononucleosis"],
     ["rapid strep test", "throat culture", "monospot", "CBC"]),
    ("ear pain", "otalgia", ["throbbing", "sharp", "unilateral", "bilateral"],
     ["fever", "ear tugging", "decreased hearing", "irritability", "ear discharge"],
     ["vertigo", "facial weakness", "swelling behind the ear"],
     ["acute otitis media", "otitis externa", "eustachian tube dysfunction", "referred dental pain"],
     ["otoscopy", "tympanometry", "hearing screen"]),
    ("vaginal bleeding", "PV bleeding", ["light", "heavy", "painless", "painful", "intermittent"],
     ["cramping", "passage of clots", "lightheadedness", "back pain"],
     ["fever", "trauma", "leakage of fluid", "decreased fetal movement"],
     ["threatened miscarriage", "placenta previa", "placental abruption", "ectopic pregnancy",
      "abnormal uterine bleeding"],
     ["beta-hCG", "transvaginal ultrasound", "CBC", "blood type and Rh", "pelvic exam"]),
    ("melena", "melena", ["intermittent", "new", "recurrent", "foul-smelling"],
     ["lightheadedness", "epigastric pain", "fatigue", "dyspnea on exertion"],
     ["hematemesis", "abdominal pain", "weight loss"],
     ["upper GI bleed", "peptic ulcer disease", "NSAID gastropathy", "variceal bleed"],
     ["CBC", "type and screen", "BUN", "INR", "upper endoscopy"]),
    ("fall", "fall", ["mechanical", "unwitnessed", "witnessed", "recurrent"],
     ["hip pain", "head strike", "inability to bear weight", "bruising", "lightheadedness beforehand"],
     ["loss of consciousness", "neck pain", "anticoagulant use", "chest pain"],
     ["mechanical fall", "hip fracture", "orthostatic hypotension", "deconditioning", "syncope"],
     ["hip X-ray", "CT head", "CT cervical spine", "orthostatic vitals", "PT evaluation"]),
    ("polyuria and polydipsia", "polyuria", ["progressive", "new", "severe"],
     ["weight loss", "blurred vision", "fatigue", "nocturia", "recurrent thrush"],
     ["abdominal pain", "vomiting", "confusion"],
     ["new-onset type 2 diabetes", "diabetic ketoacidosis", "hyperosmolar hyperglycemic state",
      "diabetes insipidus", "hypercalcemia"],
     ["fingerstick glucose", "HbA1c", "BMP", "serum ketones", "urinalysis"]),
    ("wheezing", "wheeze", ["episodic", "nocturnal", "exertional", "worsening"],
     ["cough", "chest tightness", "shortness of breath", "increased inhaler use"],
     ["fever", "stridor", "foreign body aspiration"],
     ["asthma exacerbation", "COPD exacerbation", "viral-induced wheeze", "bronchiolitis"],
     ["peak flow", "CXR", "spirometry", "ABG"]),
    ("seizure", "seizure", ["generalized", "focal", "first-time", "breakthrough", "prolonged"],
     ["tongue biting", "urinary incontinence", "postictal confusion", "muscle soreness"],
     ["fever", "head trauma", "alcohol withdrawal", "missed doses"],
     ["breakthrough seizure", "provoked seizure", "first unprovoked seizure", "alcohol withdrawal seizure"],
     ["EEG", "MRI brain", "BMP with calcium and magnesium", "antiepileptic drug level", "CT head"]),
]

PMH = [
    ("hypertension", "HTN"), ("type 2 diabetes mellitus", "DM2"), ("hyperlipidemia", "HLD"),
    ("coronary artery disease", "CAD s/p PCI"), ("heart failure with reduced ejection fraction", "HFrEF"),
    ("atrial fibrillation", "AFib"), ("COPD", "COPD"), ("asthma", "asthma"),
    ("chronic kidney disease stage 3", "CKD 3"), ("obstructive sleep apnea", "OSA on CPAP"),
    ("gastroesophageal reflux disease", "GERD"), ("hypothyroidism", "hypothyroidism"),
    ("benign prostatic hyperplasia", "BPH"), ("osteoarthritis", "OA"), ("rheumatoid arthritis", "RA"),
    ("major depressive disorder", "MDD"), ("generalized anxiety disorder", "GAD"), ("prior stroke", "h/o CVA"),
    ("peripheral arterial disease", "PAD"), ("alcohol-related cirrhosis", "EtOH cirrhosis"),
    ("HIV on antiretroviral therapy", "HIV on ART"), ("epilepsy", "seizure d/o"), ("migraine", "migraines"),
    ("gout", "gout"), ("iron deficiency anemia", "IDA"), ("prior deep vein thrombosis", "h/o DVT"),
    ("obesity", "obesity"), ("osteoporosis", "osteoporosis"), ("dementia", "dementia"),
    ("Parkinson disease", "PD"), ("end-stage renal disease on hemodialysis", "ESRD on HD"),
    ("type 1 diabetes", "DM1"), ("bipolar disorder", "BPAD"), ("chronic pain", "chronic pain"),
    ("breast cancer in remission", "h/o breast CA"), ("prostate cancer", "prostate CA"), ("hepatitis C", "HCV"),
    ("sickle cell disease", "SCD"), ("multiple sclerosis", "MS"), ("psoriasis", "psoriasis"),
    ("aortic stenosis", "AS"), ("pulmonary fibrosis", "IPF"), ("ulcerative colitis", "UC"),
    ("Crohn disease", "Crohn's"), ("schizophrenia", "schizophrenia"), ("alcohol use disorder", "AUD"),
]

QUALIFIERS = ["", "", "", "well-controlled ", "poorly controlled ", "long-standing ", "recently diagnosed "]

DURATIONS = [
    ("2 hours", "2h"), ("6 hours", "6h"), ("12 hours", "12h"), ("1 day", "1d"), ("2 days", "2d"), ("3 days", "3d"),
    ("4 days", "4d"), ("5 days", "5d"), ("1 week", "1 wk"), ("10 days", "10d"), ("2 weeks", "2 wks"),
    ("3 weeks", "3 wks"), ("1 month", "1 mo"), ("2 months", "2 mo"), ("6 months", "6 mo"), ("1 year", "1 yr"),
    ("several days", "several days"), ("several weeks", "several wks"),
]

ONSETS = ["this morning", "yesterday evening", "last night", "two days ago", "after lunch", "while at work",
          "on waking", "during exercise", "after a long car journey", "over the weekend", "while watching TV",
          "after a heavy meal", "while climbing stairs", "at rest"]

# complaint -> (worse with, better with); complaints not listed get no modifier sentence
MODIFIERS = {
    "chest pain": (["exertion", "deep breathing", "lying flat", "stress", "large meals"],
                   ["rest", "nitroglycerin", "sitting forward", "antacids"]),
    "shortness of breath": (["exertion", "lying flat", "climbing stairs", "cold air"],
                            ["rest", "sitting upright", "an inhaler", "supplemental oxygen"]),
    "cough": (["lying down", "cold air", "talking", "exercise"], ["honey and warm drinks", "an inhaler", "sitting up"]),
    "abdominal pain": (["eating", "movement", "fatty meals", "coughing", "the car ride in"],
                       ["lying still", "passing flatus", "antacids", "a bowel movement"]),
    "headache": (["bright light", "coughing", "bending forward", "noise", "screen use"],
                 ["sleep", "a dark room", "ibuprofen", "caffeine"]),
    "low back pain": (["bending", "prolonged sitting", "lifting", "standing for long periods"],
                      ["lying flat", "heat", "walking", "ibuprofen"]),
    "joint pain and swelling": (["weight bearing", "movement", "the end of the day", "cold weather"],
                                ["rest", "ice", "NSAIDs", "gentle exercise"]),
    "flank pain": (["movement", "drinking fluids"], ["nothing", "ketorolac"]),
    "sore throat": (["swallowing", "talking"], ["lozenges", "cold drinks", "acetaminophen"]),
    "ear pain": (["lying on the affected side", "chewing"], ["acetaminophen", "sitting up"]),
    "dizziness": (["turning the head", "rolling over in bed", "standing up quickly"], ["lying still", "closing the eyes"]),
    "palpitations": (["caffeine", "alcohol", "stress", "exercise"], ["rest", "vagal maneuvers", "slow breathing"]),
    "wheezing": (["exercise", "cold air", "pets", "dust"], ["albuterol", "rest"]),
    "leg swelling": (["standing all day", "heat", "salty food"], ["elevation", "compression stockings"]),
}

SINCE = ["this morning", "yesterday", "last night", "Monday", "the weekend", "the start of the week",
         "returning from holiday", "a fall last week", "starting a new medication", "a cold two weeks ago",
         "Christmas", "the last clinic visit"]

# complaint -> exam systems that go with it (others: General only)
EXAM_SYSTEMS = {
    "chest pain": ["CV", "Lungs", "Ext"], "shortness of breath": ["Lungs", "CV", "Ext", "Neck"],
    "cough": ["Lungs", "HEENT"], "abdominal pain": ["Abd"], "nausea and vomiting": ["Abd", "HEENT"],
    "diarrhea": ["Abd", "HEENT"], "headache": ["Neuro", "Neck", "HEENT"], "dizziness": ["Neuro", "CV"],
    "left-sided weakness": ["Neuro"], "fever": ["Lungs", "Skin", "Neck", "Abd"], "low back pain": ["MSK", "Neuro"],
    "joint pain and swelling": ["MSK", "Skin"], "dysuria": ["Abd"], "flank pain": ["Abd"], "rash": ["Skin"],
    "palpitations": ["CV", "Neck"], "syncope": ["CV", "Neuro"], "leg swelling": ["Ext", "CV"],
    "confusion": ["Neuro", "Psych"], "fatigue": ["HEENT", "Neck"], "depressed mood": ["Psych"],
    "anxiety": ["Psych"], "sore throat": ["HEENT", "Neck"], "ear pain": ["HEENT"], "melena": ["Abd", "HEENT"],
    "fall": ["MSK", "Neuro"], "polyuria and polydipsia": ["HEENT", "Neuro"], "wheezing": ["Lungs"],
    "seizure": ["Neuro", "HEENT"], "vaginal bleeding": ["Abd", "HEENT"],
}

HOME_REMEDIES = ["acetaminophen", "ibuprofen", "an antacid", "nothing", "an inhaler", "a friend's tablet",
                 "ice packs", "a heating pad", "cough syrup", "extra fluids"]

EXAM = {
    "General": ["NAD", "well-appearing", "ill-appearing, diaphoretic", "alert, uncomfortable, lying still",
                "anxious but cooperative", "cachectic", "obese, in mild distress", "sleepy but arousable",
                "A&Ox3, pleasant"],
    "HEENT": ["NCAT, PERRL, EOMI", "oropharynx clear, MMM", "dry mucous membranes", "tonsillar exudate",
              "conjunctival pallor", "scleral icterus", "TMs clear bilaterally", "right TM bulging and erythematous",
              "sinus tenderness over the maxillae"],
    "Neck": ["supple, no LAD", "JVD to the angle of the jaw", "no meningismus", "tender anterior cervical nodes",
             "thyroid enlarged without nodules", "trachea midline"],
    "CV": ["RRR, no m/r/g", "irregularly irregular, no murmur", "tachycardic, regular", "2/6 systolic murmur at RUSB",
           "S3 present", "distant heart sounds", "bradycardic with regular rhythm", "3/6 holosystolic murmur at apex"],
    "Lungs": ["CTAB", "crackles at bilateral bases", "diffuse expiratory wheezes", "decreased breath sounds at the "
              "right base", "rhonchi that clear with cough", "dull to percussion on the left", "poor air entry",
              "mild accessory muscle use", "clear with good air movement"],
    "Abd": ["soft, NT/ND, +BS", "tender in RLQ with guarding", "RUQ tenderness, positive Murphy sign",
            "distended, tympanic", "epigastric tenderness without rebound", "LLQ tenderness", "hepatomegaly",
            "shifting dullness present", "suprapubic tenderness", "no CVA tenderness", "left CVA tenderness"],
    "Ext": ["no edema", "2+ pitting edema to the knees", "1+ bilateral ankle edema", "right calf tender and swollen",
            "warm, well perfused", "cool extremities, delayed cap refill", "clubbing", "diminished pedal pulses"],
    "Neuro": ["CN II-XII intact, strength 5/5 throughout", "left facial droop, LUE 3/5", "sensation intact to light "
              "touch", "oriented x1, inattentive", "reflexes 2+ and symmetric", "positive Romberg",
              "resting tremor of the right hand", "dysarthric speech", "gait steady", "asterixis present"],
    "Skin": ["warm, dry, intact", "erythematous, warm and tender area on the left shin", "diffuse urticarial wheals",
             "jaundiced", "petechiae on the lower legs", "stage 2 sacral pressure injury", "vesicles in a dermatomal "
             "distribution", "scaly erythematous plaques on the elbows", "no rashes"],
    "MSK": ["full ROM", "tender over the lumbar paraspinals", "positive straight leg raise on the right",
            "effusion of the left knee", "first MTP red, hot and swollen", "limited shoulder abduction",
            "tender anatomical snuffbox", "bony tenderness over the distal radius"],
    "Psych": ["euthymic, linear thought process", "flat affect, psychomotor slowing", "anxious, pressured speech",
              "calm and cooperative", "tearful at times", "good insight and judgment"],
}

EXAM_PROSE = [
    "mild tenderness in the right upper quadrant", "a soft systolic murmur at the left sternal border",
    "fine crackles at both lung bases", "no focal neurological deficit", "a warm erythematous left knee effusion",
    "dry mucous membranes and reduced skin turgor", "an irregularly irregular rhythm", "bilateral pitting edema to "
    "the shins", "wheeze throughout both lung fields", "tenderness over the lumbar spine", "a tender, swollen right "
    "calf", "a distended, tympanic abdomen", "an enlarged, tender liver edge", "scleral icterus", "a bulging left "
    "tympanic membrane", "tonsillar enlargement with exudate", "a 3 cm fluctuant abscess on the thigh", "reduced "
    "air entry at the left base", "cervical lymphadenopathy", "nuchal rigidity", "a positive Murphy sign",
    "rebound tenderness in the right iliac fossa", "a pulsatile abdominal mass", "splinter hemorrhages",
    "pallor of the palmar creases", "a fine postural tremor", "cogwheel rigidity", "left-sided pronator drift",
]

# (name, short, low, high, decimals, unit, ref_low, ref_high)
LABS = [
    ("sodium", "Na", 121, 149, 0, "mmol/L", 135, 145), ("potassium", "K", 2.8, 6.6, 1, "mmol/L", 3.5, 5.0),
    ("chloride", "Cl", 92, 112, 0, "mmol/L", 98, 107), ("bicarbonate", "HCO3", 12, 32, 0, "mmol/L", 22, 29),
    ("BUN", "BUN", 5, 78, 0, "mg/dL", 7, 20), ("creatinine", "Cr", 0.5, 5.8, 2, "mg/dL", 0.6, 1.2),
    ("glucose", "Glu", 52, 612, 0, "mg/dL", 70, 140), ("calcium", "Ca", 7.4, 12.6, 1, "mg/dL", 8.5, 10.5),
    ("magnesium", "Mg", 1.1, 2.9, 1, "mg/dL", 1.7, 2.2), ("phosphate", "Phos", 1.8, 7.4, 1, "mg/dL", 2.5, 4.5),
    ("white blood cell count", "WBC", 1.9, 26.4, 1, "x10^9/L", 4.0, 11.0),
    ("hemoglobin", "Hgb", 6.1, 17.2, 1, "g/dL", 12.0, 16.0), ("platelets", "Plt", 22, 610, 0, "x10^9/L", 150, 400),
    ("INR", "INR", 0.9, 5.2, 1, "", 0.8, 1.2), ("troponin I", "TnI", 0.01, 3.80, 2, "ng/mL", 0.0, 0.04),
    ("high-sensitivity troponin T", "hs-TnT", 4, 480, 0, "ng/L", 0, 14),
    ("BNP", "BNP", 22, 3400, 0, "pg/mL", 0, 100), ("lactate", "lactate", 0.6, 7.8, 1, "mmol/L", 0.5, 2.0),
    ("C-reactive protein", "CRP", 1, 286, 0, "mg/L", 0, 5), ("procalcitonin", "PCT", 0.03, 14.2, 2, "ng/mL", 0.0, 0.5),
    ("HbA1c", "HbA1c", 4.9, 13.6, 1, "%", 4.0, 5.6), ("TSH", "TSH", 0.01, 48.0, 2, "mIU/L", 0.4, 4.5),
    ("free T4", "fT4", 0.3, 4.1, 1, "ng/dL", 0.8, 1.8), ("ALT", "ALT", 8, 890, 0, "U/L", 7, 56),
    ("AST", "AST", 10, 960, 0, "U/L", 10, 40), ("alkaline phosphatase", "ALP", 35, 780, 0, "U/L", 44, 147),
    ("total bilirubin", "T bili", 0.2, 12.4, 1, "mg/dL", 0.1, 1.2), ("albumin", "Alb", 1.6, 4.9, 1, "g/dL", 3.5, 5.0),
    ("lipase", "lipase", 10, 2400, 0, "U/L", 10, 60), ("ferritin", "ferritin", 3, 1450, 0, "ng/mL", 20, 300),
    ("LDL cholesterol", "LDL", 38, 226, 0, "mg/dL", 0, 100), ("eGFR", "eGFR", 8, 118, 0, "mL/min/1.73m2", 60, 200),
    ("arterial pH", "pH", 7.08, 7.56, 2, "", 7.35, 7.45), ("PaCO2", "pCO2", 22, 84, 0, "mmHg", 35, 45),
    ("PaO2", "pO2", 48, 132, 0, "mmHg", 80, 100), ("D-dimer", "D-dimer", 0.15, 6.80, 2, "mg/L FEU", 0.0, 0.5),
    ("ESR", "ESR", 2, 118, 0, "mm/h", 0, 20), ("creatine kinase", "CK", 30, 18400, 0, "U/L", 30, 200),
    ("ammonia", "NH3", 12, 190, 0, "umol/L", 11, 35), ("vitamin B12", "B12", 90, 1400, 0, "pg/mL", 200, 900),
    ("PSA", "PSA", 0.2, 24.0, 1, "ng/mL", 0.0, 4.0), ("uric acid", "urate", 2.8, 12.9, 1, "mg/dL", 3.5, 7.2),
    ("serum osmolality", "Osm", 262, 356, 0, "mOsm/kg", 275, 295), ("lithium", "Li", 0.2, 2.4, 1, "mmol/L", 0.6, 1.2),
    ("vancomycin trough", "vanc trough", 6, 28, 1, "mcg/mL", 10, 20),
    ("vitamin D", "25-OH vit D", 6, 72, 0, "ng/mL", 30, 100),
    ("neutrophils", "ANC", 0.2, 21.0, 1, "x10^9/L", 1.5, 8.0), ("MCV", "MCV", 62, 118, 0, "fL", 80, 100),
]

URINE = ["UA: nitrite positive, LE 2+, WBC >50/hpf, few bacteria", "UA: 3+ protein, no blood, SG 1.020",
         "UA: large blood, RBC 20-50/hpf, no WBC", "UA: glucose 4+, ketones 3+", "UA: bland, SG 1.010",
         "urine culture: >100,000 CFU/mL E. coli, sensitive to nitrofurantoin",
         "urine culture: mixed flora, likely contaminant", "urine sodium 12 mmol/L, FENa 0.4%",
         "urine protein-to-creatinine ratio 3.8 g/g", "urine toxicology negative"]

MICRO = ["blood cultures: gram-positive cocci in clusters in 2 of 2 bottles",
         "blood cultures: no growth to date at 72 hours", "sputum culture: Streptococcus pneumoniae",
         "wound culture: MRSA, sensitive to doxycycline and trimethoprim-sulfamethoxazole",
         "CSF gram stain: no organisms seen", "stool C. difficile toxin positive",
         "MRSA nasal swab negative", "respiratory viral panel positive for RSV", "COVID-19 PCR negative",
         "influenza B PCR positive", "blood cultures: E. coli, pan-sensitive", "throat swab: group A streptococcus"]

IMAGING = [
    ("CXR", ["no acute cardiopulmonary process", "right lower lobe consolidation concerning for pneumonia",
             "cardiomegaly with pulmonary vascular congestion and small bilateral effusions",
             "hyperinflated lungs without focal consolidation", "left-sided pneumothorax measuring 2 cm at the apex",
             "endotracheal tube 4 cm above the carina; no pneumothorax", "moderate left pleural effusion",
             "patchy bilateral airspace opacities", "stable postoperative changes"]),
    ("CT head without contrast", ["no acute intracranial abnormality", "acute left parietal intraparenchymal "
                                  "hemorrhage measuring 2.1 cm with mild mass effect",
                                  "chronic small vessel ischemic changes", "right frontal subdural hematoma with "
                                  "4 mm midline shift", "age-appropriate volume loss",
                                  "hypodensity in the right MCA territory consistent with evolving infarct"]),
    ("CT abdomen/pelvis with contrast", ["acute uncomplicated appendicitis", "sigmoid diverticulitis with a 3 cm "
                                         "pericolic abscess", "small bowel obstruction with transition point in the "
                                         "right lower quadrant", "no acute abdominal or pelvic pathology",
                                         "peripancreatic fat stranding consistent with acute pancreatitis",
                                         "cirrhotic liver morphology with moderate ascites",
                                         "4 mm obstructing stone at the left ureterovesical junction"]),
    ("CT pulmonary angiogram", ["no pulmonary embolism", "acute bilateral segmental pulmonary emboli with RV "
                                "strain", "subsegmental filling defect in the right lower lobe",
                                "no PE; emphysematous changes"]),
    ("RUQ ultrasound", ["cholelithiasis with gallbladder wall thickening and pericholecystic fluid",
                        "cholelithiasis without evidence of cholecystitis", "hepatic steatosis",
                        "common bile duct dilated to 9 mm", "normal gallbladder"]),
    ("Renal ultrasound", ["mild right hydronephrosis", "no hydronephrosis; echogenic kidneys consistent with "
                          "medical renal disease", "simple cortical cyst in the left kidney",
                          "distended bladder with post-void residual of 620 mL"]),
    ("Venous duplex of the left lower extremity", ["occlusive thrombus in the left popliteal and femoral veins",
                                                   "no evidence of deep vein thrombosis",
                                                   "superficial thrombophlebitis of the great saphenous vein"]),
    ("MRI brain", ["acute infarct in the left internal capsule", "no acute abnormality",
                   "multiple periventricular T2 hyperintensities", "enhancing 1.8 cm mass in the right frontal lobe "
                                                                   "with surrounding edema"]),
    ("MRI lumbar spine", ["L5-S1 disc herniation compressing the right S1 nerve root",
                          "multilevel degenerative changes with moderate central canal stenosis at L4-L5",
                          "no cord compression or cauda equina involvement"]),
    ("Echocardiogram", ["LVEF 25-30% with global hypokinesis", "LVEF 55-60%, normal wall motion",
                        "severe aortic stenosis, valve area 0.8 cm2", "moderate pericardial effusion without "
                        "tamponade physiology", "grade II diastolic dysfunction", "dilated right ventricle with "
                        "reduced function"]),
    ("Right wrist X-ray", ["nondisplaced fracture of the scaphoid waist", "dorsally angulated distal radius fracture",
                           "no acute fracture or dislocation"]),
    ("Pelvis and left hip X-ray", ["displaced left femoral neck fracture", "no fracture; mild degenerative changes",
                                   "intertrochanteric fracture of the left femur"]),
    ("Obstetric ultrasound", ["single live intrauterine pregnancy, biometry consistent with dates",
                              "anterior placenta, clear of the cervical os", "placenta previa, complete",
                              "amniotic fluid index within normal limits", "estimated fetal weight at the 8th "
                                                                           "percentile"]),
    ("Knee X-ray", ["moderate medial joint space narrowing with osteophytes", "joint effusion, no fracture",
                    "chondrocalcinosis of the menisci"]),
]

ECG = [
    "normal sinus rhythm, normal axis, no acute ST changes", "sinus tachycardia at {hr} bpm, no ischemic changes",
    "atrial fibrillation with rapid ventricular response at {hr} bpm", "ST elevation in leads II, III and aVF",
    "ST depression in V4-V6", "new left bundle branch block", "right bundle branch block, unchanged from prior",
    "first-degree AV block, PR 240 ms", "sinus bradycardia at {hr} bpm", "QTc prolonged at 512 ms",
    "peaked T waves in the precordial leads", "left ventricular hypertrophy with strain pattern",
    "paced rhythm at 70 bpm", "T-wave inversions in V1-V3", "low voltage QRS complexes",
    "frequent PVCs, otherwise sinus rhythm", "atrial flutter with 2:1 block, ventricular rate 150",
    "Q waves in the inferior leads suggestive of old infarction", "S1Q3T3 pattern with sinus tachycardia",
    "diffuse ST elevation with PR depression",
]

# (drug, doses, unit, routes, frequencies, indications)
DRUGS = [
    ("metformin", ["500", "850", "1000"], "mg", ["PO"], ["BID", "daily with dinner"], ["DM2"]),
    ("lisinopril", ["5", "10", "20", "40"], "mg", ["PO"], ["daily"], ["HTN", "HFrEF"]),
    ("amlodipine", ["2.5", "5", "10"], "mg", ["PO"], ["daily"], ["HTN"]),
    ("atorvastatin", ["10", "20", "40", "80"], "mg", ["PO"], ["nightly", "daily"], ["HLD", "secondary prevention"]),
    ("metoprolol succinate", ["25", "50", "100"], "mg", ["PO"], ["daily"], ["HFrEF", "rate control"]),
    ("metoprolol tartrate", ["12.5", "25", "50"], "mg", ["PO"], ["BID"], ["rate control", "HTN"]),
    ("furosemide", ["20", "40", "80"], "mg", ["PO", "IV"], ["daily", "BID"], ["volume overload", "CHF"]),
    ("apixaban", ["2.5", "5"], "mg", ["PO"], ["BID"], ["AFib", "DVT"]),
    ("warfarin", ["2", "3", "5", "7.5"], "mg", ["PO"], ["daily"], ["AFib", "mechanical valve"]),
    ("aspirin", ["81", "325"], "mg", ["PO"], ["daily"], ["CAD", "secondary prevention"]),
    ("clopidogrel", ["75"], "mg", ["PO"], ["daily"], ["CAD s/p stent"]),
    ("heparin", ["5000"], "units", ["subcut"], ["q8h", "q12h"], ["DVT prophylaxis"]),
    ("enoxaparin", ["40", "60", "80"], "mg", ["subcut"], ["daily", "q12h"], ["DVT prophylaxis", "PE"]),
    ("insulin glargine", ["8", "12", "16", "20", "24", "30"], "units", ["subcut"], ["nightly"], ["DM2", "DM1"]),
    ("insulin lispro", ["4", "6", "8"], "units", ["subcut"], ["with meals", "TID AC"], ["DM1", "DM2"]),
    ("levothyroxine", ["25", "50", "75", "88", "100", "125"], "mcg", ["PO"], ["daily before breakfast"],
     ["hypothyroidism"]),
    ("omeprazole", ["20", "40"], "mg", ["PO"], ["daily", "BID"], ["GERD"]),
    ("pantoprazole", ["40"], "mg", ["PO", "IV"], ["daily", "BID"], ["GI bleed", "GERD"]),
    ("ondansetron", ["4", "8"], "mg", ["PO", "IV"], ["q8h PRN nausea"], ["nausea"]),
    ("acetaminophen", ["500", "650", "1000"], "mg", ["PO"], ["q6h PRN pain", "q8h"], ["pain", "fever"]),
    ("ibuprofen", ["400", "600"], "mg", ["PO"], ["q6h PRN pain", "TID with food"], ["pain"]),
    ("oxycodone", ["5", "10"], "mg", ["PO"], ["q4h PRN severe pain"], ["post-op pain"]),
    ("morphine", ["2", "4"], "mg", ["IV"], ["q4h PRN severe pain"], ["pain"]),
    ("hydromorphone", ["0.5", "1"], "mg", ["IV"], ["q3h PRN severe pain"], ["pain"]),
    ("amoxicillin", ["500", "875"], "mg", ["PO"], ["TID", "BID"], ["otitis media", "strep pharyngitis"]),
    ("amoxicillin-clavulanate", ["875/125"], "mg", ["PO"], ["BID"], ["sinusitis", "bite wound"]),
    ("azithromycin", ["250", "500"], "mg", ["PO", "IV"], ["daily"], ["CAP"]),
    ("ceftriaxone", ["1", "2"], "g", ["IV"], ["q24h"], ["CAP", "pyelonephritis", "meningitis"]),
    ("piperacillin-tazobactam", ["3.375", "4.5"], "g", ["IV"], ["q6h", "q8h"], ["sepsis", "HCAP"]),
    ("vancomycin", ["1", "1.25", "1.5"], "g", ["IV"], ["q12h"], ["MRSA bacteremia", "cellulitis"]),
    ("cephalexin", ["500"], "mg", ["PO"], ["QID"], ["cellulitis"]),
    ("nitrofurantoin", ["100"], "mg", ["PO"], ["BID x5 days"], ["cystitis"]),
    ("doxycycline", ["100"], "mg", ["PO"], ["BID"], ["cellulitis", "Lyme disease", "CAP"]),
    ("levofloxacin", ["500", "750"], "mg", ["PO"], ["daily"], ["CAP"]),
    ("metronidazole", ["500"], "mg", ["PO", "IV"], ["q8h", "TID"], ["C. difficile", "intra-abdominal infection"]),
    ("prednisone", ["5", "10", "20", "40", "60"], "mg", ["PO"], ["daily"], ["COPD exacerbation", "gout", "asthma"]),
    ("methylprednisolone", ["40", "125"], "mg", ["IV"], ["q6h", "daily"], ["asthma exacerbation"]),
    ("dexamethasone", ["4", "6", "10"], "mg", ["PO", "IV"], ["daily", "q6h"], ["cerebral edema", "croup"]),
    ("albuterol", ["2.5"], "mg", ["neb"], ["q4h PRN wheeze", "q20min x3"], ["asthma", "COPD"]),
    ("ipratropium", ["0.5"], "mg", ["neb"], ["q6h"], ["COPD"]),
    ("tiotropium", ["18"], "mcg", ["inhaled"], ["daily"], ["COPD"]),
    ("sertraline", ["25", "50", "100"], "mg", ["PO"], ["daily"], ["MDD", "GAD"]),
    ("escitalopram", ["5", "10", "20"], "mg", ["PO"], ["daily"], ["MDD", "GAD"]),
    ("quetiapine", ["25", "50", "100"], "mg", ["PO"], ["nightly"], ["BPAD", "agitation"]),
    ("lorazepam", ["0.5", "1", "2"], "mg", ["PO", "IV"], ["q6h PRN anxiety", "q4h PRN CIWA > 10"],
     ["alcohol withdrawal", "anxiety"]),
    ("haloperidol", ["0.5", "1", "2"], "mg", ["IV", "IM"], ["q6h PRN agitation"], ["delirium"]),
    ("gabapentin", ["100", "300"], "mg", ["PO"], ["TID", "nightly"], ["neuropathic pain"]),
    ("levetiracetam", ["500", "750", "1000"], "mg", ["PO", "IV"], ["BID"], ["seizure d/o"]),
    ("spironolactone", ["12.5", "25", "50"], "mg", ["PO"], ["daily"], ["HFrEF", "ascites"]),
    ("hydrochlorothiazide", ["12.5", "25"], "mg", ["PO"], ["daily"], ["HTN"]),
    ("losartan", ["25", "50", "100"], "mg", ["PO"], ["daily"], ["HTN", "diabetic nephropathy"]),
    ("carvedilol", ["3.125", "6.25", "12.5", "25"], "mg", ["PO"], ["BID"], ["HFrEF"]),
    ("empagliflozin", ["10", "25"], "mg", ["PO"], ["daily"], ["DM2", "HFrEF", "CKD"]),
    ("potassium chloride", ["20", "40"], "mEq", ["PO"], ["once", "daily"], ["hypokalemia"]),
    ("magnesium sulfate", ["2"], "g", ["IV"], ["once"], ["hypomagnesemia"]),
    ("docusate", ["100"], "mg", ["PO"], ["BID"], ["constipation"]),
    ("senna", ["8.6", "17.2"], "mg", ["PO"], ["nightly"], ["constipation"]),
    ("polyethylene glycol", ["17"], "g", ["PO"], ["daily PRN constipation"], ["constipation"]),
    ("tamsulosin", ["0.4"], "mg", ["PO"], ["nightly"], ["BPH", "ureteral stone"]),
    ("allopurinol", ["100", "300"], "mg", ["PO"], ["daily"], ["gout"]),
    ("colchicine", ["0.6"], "mg", ["PO"], ["BID", "daily"], ["gout flare", "pericarditis"]),
    ("ferrous sulfate", ["325"], "mg", ["PO"], ["daily", "every other day"], ["IDA"]),
    ("folic acid", ["1"], "mg", ["PO"], ["daily"], ["supplementation"]),
    ("cholecalciferol", ["1000", "2000"], "units", ["PO"], ["daily"], ["vitamin D deficiency"]),
    ("nicotine patch", ["14", "21"], "mg/24h", ["transdermal"], ["daily"], ["tobacco use"]),
    ("ketorolac", ["15", "30"], "mg", ["IV"], ["q6h PRN pain"], ["renal colic"]),
    ("oseltamivir", ["75"], "mg", ["PO"], ["BID x5 days"], ["influenza"]),
    ("labetalol", ["10", "20"], "mg", ["IV"], ["PRN SBP > 160"], ["severe hypertension"]),
    ("nitroglycerin", ["0.4"], "mg", ["SL"], ["q5min PRN chest pain, max 3 doses"], ["angina"]),
    ("diltiazem", ["30", "60", "120"], "mg", ["PO"], ["q6h", "daily"], ["rate control"]),
    ("amiodarone", ["200"], "mg", ["PO"], ["daily"], ["AFib"]),
    ("digoxin", ["0.125"], "mg", ["PO"], ["daily"], ["AFib", "HFrEF"]),
    ("sumatriptan", ["50", "100"], "mg", ["PO"], ["PRN migraine, may repeat once in 2h"], ["migraine"]),
    ("methotrexate", ["10", "15", "20"], "mg", ["PO"], ["weekly"], ["RA", "psoriasis"]),
    ("hydroxychloroquine", ["200"], "mg", ["PO"], ["BID"], ["RA", "lupus"]),
    ("donepezil", ["5", "10"], "mg", ["PO"], ["nightly"], ["dementia"]),
    ("lactulose", ["20"], "g", ["PO"], ["TID, titrate to 2-3 BMs daily"], ["hepatic encephalopathy"]),
    ("rifaximin", ["550"], "mg", ["PO"], ["BID"], ["hepatic encephalopathy"]),
    ("alendronate", ["70"], "mg", ["PO"], ["weekly"], ["osteoporosis"]),
    ("fluticasone-salmeterol", ["250/50"], "mcg", ["inhaled"], ["1 puff BID"], ["asthma", "COPD"]),
    ("montelukast", ["10"], "mg", ["PO"], ["nightly"], ["asthma"]),
    ("cetirizine", ["10"], "mg", ["PO"], ["daily"], ["allergic rhinitis", "urticaria"]),
    ("trimethoprim-sulfamethoxazole", ["800/160"], "mg", ["PO"], ["BID"], ["cystitis", "MRSA skin infection"]),
    ("fluconazole", ["150"], "mg", ["PO"], ["once"], ["vaginal candidiasis"]),
    ("naloxone", ["0.4"], "mg", ["IV", "IM"], ["PRN respiratory depression"], ["opioid overdose"]),
    ("thiamine", ["100"], "mg", ["PO", "IV"], ["daily"], ["alcohol use disorder"]),
    ("bupropion", ["150"], "mg", ["PO"], ["daily", "BID"], ["MDD", "smoking cessation"]),
    ("tramadol", ["50"], "mg", ["PO"], ["q6h PRN moderate pain"], ["pain"]),
    ("prochlorperazine", ["10"], "mg", ["PO", "IV"], ["q6h PRN nausea"], ["nausea", "migraine"]),
]

ALLERGENS = [("penicillin", ["hives", "rash", "anaphylaxis", "angioedema"]), ("sulfa drugs", ["rash", "hives"]),
             ("codeine", ["nausea", "itching"]), ("morphine", ["itching", "hallucinations"]),
             ("latex", ["contact dermatitis", "wheeze"]), ("iodinated contrast", ["hives", "flushing"]),
             ("peanuts", ["anaphylaxis", "lip swelling"]), ("shellfish", ["hives", "vomiting"]),
             ("lisinopril", ["angioedema", "cough"]), ("cephalosporins", ["rash"]), ("NSAIDs", ["bronchospasm",
                                                                                           "GI bleed"]),
             ("vancomycin", ["flushing"]), ("ciprofloxacin", ["tendon pain"]), ("adhesive tape", ["blistering"]),
             ("bee stings", ["anaphylaxis"]), ("erythromycin", ["GI upset"]), ("statins", ["myalgias"])]

PLANS = [
    "continue current medications", "check BMP in the morning", "trend troponins q6h", "consult cardiology",
    "consult GI for EGD", "start maintenance IV fluids at 100 mL/h", "PT/OT evaluation", "advance diet as tolerated",
    "wean O2 to keep SpO2 88-92%", "strict I/Os and daily weights", "continuous telemetry", "follow up blood cultures",
    "repeat CBC in 6 hours", "social work for discharge planning", "diabetes education", "fall precautions",
    "aspiration precautions", "NPO after midnight for procedure", "renally dose all medications",
    "check orthostatic vitals", "outpatient sleep study", "refer to dietitian", "recheck lipids in 3 months",
    "incentive spirometry 10x/hour while awake", "encourage ambulation TID", "hold home antihypertensives",
    "sliding scale insulin with meals and at bedtime", "replete K and Mg per protocol", "CIWA protocol",
    "smoking cessation counseling", "repeat ECG in the morning", "follow up pending pathology",
    "MRI if symptoms persist", "transfuse for Hgb < 7", "keep MAP > 65", "hold anticoagulation",
    "bowel regimen while on opioids", "wound care per nursing", "remove Foley catheter today",
    "case management for home health", "update family", "goals of care discussion", "stool softeners",
    "repeat lactate in 2 hours", "de-escalate antibiotics based on cultures", "neuro checks q4h",
    "seizure precautions", "contact precautions", "airborne isolation pending AFB smears",
    "HbA1c and lipid panel at next visit", "referral to physical therapy", "home BP log",
    "follow up with PCP in 1 week", "return precautions reviewed",
]

WARNINGS = ["chest pain", "trouble breathing", "a fever over 38.5 C", "vomiting that will not stop",
            "black or bloody stools", "new weakness or numbness", "a severe headache", "redness spreading from "
            "the wound", "fainting", "swelling in one leg", "confusion", "blood in your urine",
            "pain that is not controlled by your medicines", "being unable to keep fluids down",
            "yellowing of your skin",
            "a racing heartbeat", "thoughts of harming yourself", "the baby moving less than usual",
            "leaking fluid or bleeding from the vagina", "your lips or face swelling"]

LAY_SYMPTOMS = ["a bad cough", "a tummy ache", "pain when I pee", "a pounding headache", "a rash on my arm",
                "trouble sleeping", "swollen ankles", "a sore throat", "dizzy spells", "pins and needles in my "
                "hands", "heartburn", "a runny nose and blocked ears", "a pulled muscle in my back",
                "blurry vision", "an itchy scalp", "aching joints", "chest tightness", "a racing heart",
                "diarrhoea", "a lump in my neck", "ringing in my ears", "cramps in my legs at night",
                "a burning feeling in my feet", "low energy", "a twisted ankle", "a nosebleed that keeps coming back"]

LAY_CONCERNS = ["I'm worried it might be something serious", "it is not getting any better",
                "paracetamol is not helping", "it keeps me awake at night", "I can't go to work",
                "my mum had the same thing", "it's worse in the mornings", "I've run out of my tablets",
                "I don't know if I should come in", "it started after I changed my medicine",
                "I think I need antibiotics", "I'm due to fly next week"]

NURSING_OBS = ["resting comfortably", "sleeping, easily roused", "ambulating in the hallway with a walker",
               "tolerating diet", "voiding without difficulty", "complaining of nausea", "anxious about surgery",
               "refusing evening medications", "confused, reoriented", "requesting pain medication",
               "on 2 L NC, no distress", "family at bedside", "up to chair for lunch", "incontinent of urine, linen "
               "changed", "pulling at lines, mitts applied per order", "tearful, emotional support given",
               "sitting up in bed watching TV", "NPO, IV fluids running", "diaphoretic and shaky, fingerstick checked"]

NURSING_ACTIONS = ["will continue to monitor", "MD notified", "call light within reach", "bed in lowest position",
                   "repositioned q2h", "IV site checked, no redness", "encouraged fluids", "education provided",
                   "hourly rounding completed", "incentive spirometer encouraged", "SCDs on", "report given to "
                   "oncoming RN", "pain reassessed in 1 hour", "dressing reinforced"]

IV_SITES = ["left forearm", "right antecubital", "left hand", "right forearm", "PICC right upper arm"]

SOCIAL = {
    "living": ["lives alone", "lives with spouse", "lives with daughter and grandchildren", "lives in an assisted "
               "living facility", "lives with roommates", "is currently homeless", "lives with parents",
               "lives in a nursing home"],
    "tobacco": ["never smoker", "former smoker, 30 pack-years, quit 10 years ago", "current smoker, 1 ppd",
                "smokes 5 cigarettes a day", "vapes daily", "quit smoking last year"],
    "alcohol": ["no alcohol", "social alcohol use", "drinks 2-3 glasses of wine nightly", "heavy alcohol use, 12 "
                "beers daily", "rare alcohol", "drinks on weekends only"],
    "drugs": ["denies illicit drug use", "occasional cannabis", "history of IV heroin use, in recovery on "
              "buprenorphine", "uses cocaine occasionally", "no recreational drugs"],
    "work": ["retired teacher", "construction worker", "office worker", "nurse", "truck driver", "student",
             "unemployed", "farmer", "chef", "cleaner", "software developer", "retired engineer"],
}

FAMILY = ["mother with breast cancer at 52", "father with MI at 58", "sister with type 1 diabetes",
          "no family history of sudden cardiac death", "brother with colon cancer at 49", "mother with dementia",
          "father with hypertension and stroke", "family history of thyroid disease",
          "maternal grandmother with ovarian cancer", "no known family history", "strong family history of DM2",
          "father with prostate cancer", "family history of depression"]

ROS_ITEMS = ["fever", "chills", "weight loss", "headache", "vision changes", "sore throat", "chest pain",
             "palpitations", "cough", "dyspnea", "nausea", "vomiting", "abdominal pain", "diarrhea",
             "constipation", "dysuria", "hematuria", "joint pain", "rash", "numbness", "weakness", "dizziness",
             "anxiety", "depressed mood", "easy bruising", "night sweats", "leg swelling"]

PROCEDURES = [
    ("Paracentesis", "{vol} L of straw-colored fluid removed; albumin given", "ultrasound guidance"),
    ("Thoracentesis", "{vol} L of serous fluid removed from the right pleural space", "ultrasound guidance"),
    ("Lumbar puncture", "opening pressure {op} cm H2O, clear CSF sent for studies", "local anesthesia"),
    ("Laceration repair", "{cm} cm laceration closed with {n} 4-0 nylon interrupted sutures", "1% lidocaine"),
    ("Incision and drainage", "{cm} cm abscess drained, purulent material sent for culture, packed",
     "local anesthesia"),
    ("Knee arthrocentesis", "{ml} mL of cloudy fluid aspirated", "sterile technique"),
    ("Central venous catheter placement", "right internal jugular triple-lumen catheter placed, tip at cavoatrial "
                                          "junction", "ultrasound guidance"),
    ("Endotracheal intubation", "7.5 ETT placed on first pass with video laryngoscopy, confirmed with ETCO2",
     "rapid sequence induction"),
    ("Synchronized cardioversion", "converted to sinus rhythm with a single {j} J shock", "procedural sedation"),
    ("Shoulder reduction", "anterior dislocation reduced using external rotation, neurovascularly intact after",
     "procedural sedation"),
    ("Bone marrow biopsy", "posterior iliac crest aspirate and core obtained", "local anesthesia"),
    ("Colonoscopy", "cecum reached, {n} polyps removed, good prep", "moderate sedation"),
    ("EGD", "LA grade B esophagitis, no active bleeding", "moderate sedation"),
]

PEDS_COMPLAINTS = ["fever and irritability", "barking cough", "vomiting and diarrhea", "ear pulling", "rash",
                   "wheezing", "poor feeding", "decreased wet diapers", "runny nose and cough", "limp",
                   "abdominal pain", "febrile seizure", "noisy breathing", "eye discharge", "constipation"]

PEDS_FINDINGS = ["playful and interactive", "fontanelle soft and flat", "mild subcostal retractions",
                 "cap refill under 2 seconds", "tears present, MMM", "erythematous bulging left TM",
                 "diffuse fine crackles and wheeze", "no meningismus", "blanching maculopapular rash on the trunk",
                 "inspiratory stridor at rest", "clear lungs", "soft, non-tender abdomen", "tonsils 3+ with exudate",
                 "sleepy but consolable", "moderate dehydration"]

OB_COMPLAINTS = ["decreased fetal movement", "contractions every 5 minutes", "leakage of fluid", "headache and "
                 "visual changes", "vaginal bleeding", "routine prenatal visit", "pelvic pressure",
                 "nausea and vomiting", "elevated blood pressure at clinic", "abdominal pain"]

PSYCH_MSE = {
    "appearance": ["well-groomed", "disheveled", "casually dressed, good hygiene", "poorly kempt"],
    "behavior": ["cooperative", "guarded", "restless", "good eye contact", "psychomotor retardation"],
    "speech": ["normal rate and volume", "pressured", "soft and slow", "monotonous"],
    "mood": ["\"okay\"", "\"depressed\"", "\"anxious\"", "\"fine\"", "\"really low\"", "\"on top of the world\""],
    "affect": ["constricted", "euthymic", "labile", "flat", "anxious", "congruent"],
    "thought": ["linear and goal-directed", "circumstantial", "tangential", "flight of ideas",
                "paucity of thought"],
    "risk": ["denies SI/HI", "passive SI without plan", "denies SI, future-oriented", "no AVH",
             "endorses AH, denies command hallucinations"],
    "insight": ["insight and judgment fair", "poor insight", "good insight", "limited judgment"],
}

CONSULTS = [("cardiology", "management of new-onset atrial fibrillation"),
            ("cardiology", "evaluation for cardiac catheterization"), ("nephrology", "worsening renal function"),
            ("GI", "suspected upper GI bleed"), ("neurology", "new seizure"),
            ("endocrinology", "uncontrolled diabetes"),
            ("pulmonology", "persistent hypoxia"), ("rheumatology", "inflammatory arthritis"),
            ("wound care", "non-healing wound"), ("orthopedics", "hip fracture repair"),
            ("urology", "urinary retention"),
            ("psychiatry", "capacity assessment"), ("oncology", "staging of a newly found mass"),
            ("ID", "persistent bacteremia"), ("palliative care", "symptom management"),
            ("hepatology", "elevated liver enzymes"), ("rheumatology", "suspected temporal arteritis"),
            ("vascular surgery", "acute limb ischemia"), ("hematology", "pancytopenia"),
            ("dermatology", "blistering rash"), ("general surgery", "possible appendicitis"),
            ("OB/GYN", "bleeding in early pregnancy"), ("ENT", "peritonsillar abscess"),
            ("ophthalmology", "sudden vision loss"), ("psychiatry", "suicidal ideation"),
            ("nephrology", "refractory hyperkalemia"), ("cardiology", "syncope with abnormal ECG")]

SPECIALTIES = ["cardiology", "nephrology", "GI", "neurology", "endocrinology", "pulmonology", "rheumatology",
               "dermatology", "orthopedics", "general surgery", "urology", "psychiatry", "oncology", "ID",
               "palliative care", "OB/GYN", "ENT", "ophthalmology", "hematology", "vascular surgery"]


STATUSES = ["improving", "stable", "worsening", "resolved", "new", "chronic, at baseline", "poorly controlled",
            "well controlled on current regimen", "ongoing"]

TIMES = ["0000", "0100", "0200", "0300", "0400", "0530", "0600", "0700", "0800", "0915", "1000", "1130", "1200",
         "1300", "1400", "1515", "1600", "1700", "1800", "1945", "2000", "2100", "2200", "2330"]

DAYS_WORDS = ["two", "three", "five", "seven", "ten", "fourteen"]

# ---- helpers ---------------------------------------------------------------------------------------------------------


def join_and(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def some(rng: random.Random, seq: Sequence[str], k: int) -> list[str]:
    """k distinct items in draw order (own implementation, so output does not depend on random.sample)."""
    pool = list(seq)
    return [pool.pop(rng.randrange(len(pool))) for _ in range(min(k, len(pool)))]


def number(rng: random.Random, low: float, high: float, decimals: int) -> str:
    scale = 10 ** decimals
    value = rng.randint(round(low * scale), round(high * scale)) / scale
    return f"{value:.{decimals}f}"


def age_sex(rng: random.Random) -> tuple[int, str, str]:
    """(age, 'woman' / 'female' / 'man' / 'male', 'F' / 'M')."""
    age = rng.randint(18, 96)
    female = rng.random() < 0.5
    word = rng.choice(["woman", "female"] if female else ["man", "male"])
    return age, word, "F" if female else "M"


def third_person(text: str) -> str:
    return f" {text} ".replace(" my ", " their ").replace(" I ", " they ").strip()


def family_message(rng: random.Random) -> str:
    relative, pronoun = rng.choice([("husband", "his"), ("wife", "her"), ("son", "his"), ("daughter", "her"),
                                    ("father", "his"), ("mother", "her"), ("partner", "their")])
    symptom = rng.choice([x for x in LAY_SYMPTOMS if " I " not in f" {x} "])
    return f"My {relative} has had {symptom.replace('my ', pronoun + ' ')} since {rng.choice(SINCE)}."


def complaint(name: str) -> tuple:
    return next(c for c in COMPLAINTS if c[0] == name)


def pmh_list(rng: random.Random, short: bool) -> list[str]:
    items = some(rng, PMH, rng.randint(1, 4))
    if short:
        return [s for _, s in items]
    return [rng.choice(QUALIFIERS) + full for full, _ in items]


def lab_value(rng: random.Random) -> tuple[tuple, str, str]:
    lab = rng.choice(LABS)
    name, short, low, high, dec, unit, ref_low, ref_high = lab
    value = number(rng, low, high, dec)
    flag = "H" if float(value) > ref_high else "L" if float(value) < ref_low else ""
    return lab, value, flag


def lab_text(lab: tuple, value: str, short: bool) -> str:
    name, abbr, *_ = lab
    unit = lab[5]
    return f"{abbr if short else name} {value}" + (f" {unit}" if unit else "")


def drug_line(rng: random.Random) -> tuple[str, str, str, str, str, str]:
    name, doses, unit, routes, freqs, indications = rng.choice(DRUGS)
    return name, rng.choice(doses), unit, rng.choice(routes), rng.choice(freqs), rng.choice(indications)


def vitals(rng: random.Random) -> dict[str, str]:
    """Near-normal most of the time, deranged (each sign on its own) otherwise."""
    def sign(normal: tuple[float, float], wide: tuple[float, float], decimals: int = 0) -> str:
        low, high = normal if rng.random() < 0.7 else wide
        return number(rng, low, high, decimals)

    sbp = int(sign((104, 148), (78, 204)))
    dbp = rng.randint(max(40, sbp // 2 - 8), max(max(40, sbp // 2 - 8), min(122, sbp - 28)))
    tc = sign((36.1, 37.6), (35.2, 40.4), 1)
    spo2 = int(sign((94, 100), (82, 99)))
    o2 = rng.choice(["RA", "room air"]) if spo2 >= 94 and rng.random() < 0.8 else rng.choice(
        ["2 L NC", "3 L NC", "4 L NC", "15 L NRB", "40% venturi mask", "high-flow 50 L/min FiO2 0.6", "RA"])
    return {"bp": f"{sbp}/{dbp}", "hr": sign((58, 100), (38, 162)), "rr": sign((12, 20), (8, 38)), "tc": tc,
            "tf": f"{float(tc) * 9 / 5 + 32:.1f}", "spo2": str(spo2), "o2": o2, "wt": number(rng, 44, 148, 1),
            "pain": str(rng.randint(0, 10)), "gcs": sign((15, 15), (6, 14))}


EVENTS = ["fall", "syncope", "seizure"]  # happen at a moment rather than last for a while
CHRONIC = ["depressed mood", "anxiety", "fatigue"]  # build up rather than start at a moment


def is_are(noun: str) -> str:
    return "are" if noun.endswith("s") or " and " in noun else "is"


def onset(rng: random.Random, c: tuple) -> str:
    """'that started last night'; 'last night' for events; 'over the past 2 weeks' for slow complaints."""
    if c[0] in CHRONIC:
        return f"over the past {duration(rng, False)}"
    if c[0] in EVENTS:
        return rng.choice(ONSETS)
    return f"that started {rng.choice(ONSETS)}"


def course(rng: random.Random, c: tuple) -> str:
    """'<quality> <complaint>' preceded by how long, or followed by when for events."""
    if c[0] in EVENTS:
        return f"{rng.choice(c[2])} {c[0]} {rng.choice(ONSETS)}"
    return f"{duration(rng, False)} of {rng.choice(c[2])} {c[0]}"


def duration(rng: random.Random, short: bool) -> str:
    full, abbr = rng.choice(DURATIONS)
    return abbr if short else full


# ---- template families -----------------------------------------------------------------------------------------------
# Each takes the rng and returns one text (a sentence or a short multi-sentence note). In a form, "[a|b|c]" stands for
# one of a, b or c (see alt); slot values come from the vocabularies above.

_ALTERNATION = re.compile(r"\[([^\[\]|]*(?:\|[^\[\]|]*)+)\]")


def alt(rng: random.Random, text: str) -> str:
    """Replace every [a|b|c] group in text with one of its options, left to right."""
    return _ALTERNATION.sub(lambda match: rng.choice(match.group(1).split("|")), text)


def one_of(rng: random.Random, forms: Sequence[Callable[[], str]]) -> str:
    return alt(rng, rng.choice(forms)())


def t_chief_complaint(rng: random.Random) -> str:
    c = rng.choice(COMPLAINTS)
    age, sex, s = age_sex(rng)
    return one_of(rng, [
        lambda: f"CC: {c[0]} x {duration(rng, True)}.",
        lambda: f"Chief complaint: {course(rng, c)}.",
        lambda: f"{age}-year-old {sex} presenting with {c[0]}.",
        lambda: f"{age}{s} p/w {c[1]}, {rng.choice(c[3])}.",
        lambda: f"Presenting complaint: {c[0]} and {rng.choice(c[3])} since {rng.choice(SINCE)}.",
        lambda: f"Reason for visit: {c[0]}.",
        lambda: f"Triage: {age} yo {s}, {c[1]}, onset {rng.choice(ONSETS)}, ESI {rng.randint(1, 5)}.",
    ])


def t_hpi(rng: random.Random) -> str:
    c = rng.choice(COMPLAINTS)
    age, sex, s = age_sex(rng)
    assoc = some(rng, c[3], rng.randint(1, 3))
    neg = some(rng, c[4], rng.randint(1, 3))
    modifiers = MODIFIERS.get(c[0])
    if rng.random() < 0.5:
        pmh = join_and(pmh_list(rng, False))
        text = (f"{age}-year-old {sex} with a history of {pmh} presenting with {course(rng, c)}, associated "
                f"with {join_and(assoc)}.")
        if modifiers and rng.random() < 0.7:
            word, factors = rng.choice([("worse", modifiers[0]), ("better", modifiers[1])])
            text += f" The {c[0]} {is_are(c[0])} {word} with {rng.choice(factors)}."
        if rng.random() < 0.7:
            text += f" Denies {join_and(neg)}."
        return text
    pmh = ", ".join(pmh_list(rng, True))
    return (f"{age} yo {s} w/ PMH {pmh} p/w {c[1]} x {duration(rng, True)}, + {', '.join(assoc)}; "
            f"denies {', '.join(neg)}.")


def t_hpi_sentence(rng: random.Random) -> str:
    c = rng.choice([c for c in COMPLAINTS if c[0] in MODIFIERS] if rng.random() < 0.3 else COMPLAINTS)
    worse, better = MODIFIERS.get(c[0], (["activity"], ["rest"]))
    return one_of(rng, [
        lambda: f"Patient reports {rng.choice(c[2])} {c[0]} {onset(rng, c)}.",
        lambda: f"Pt c/o {c[1]} since {rng.choice(SINCE)}, worse with {rng.choice(worse)}.",
        lambda: f"The {c[0]} {is_are(c[0])} worse with {rng.choice(worse)} and better with {rng.choice(better)}.",
        lambda: f"Patient rates the {c[0]} {rng.randint(2, 10)}/10 at its worst.",
        lambda: f"Also notes {join_and(some(rng, c[3], 2))} over the past {duration(rng, False)}.",
        lambda: f"Symptoms began {rng.choice(ONSETS)} and have been [worsening|constant|intermittent|slowly improving]"
                " since.",
        lambda: f"No prior episodes of {c[0]}; tried {rng.choice(HOME_REMEDIES)} at home without relief.",
        lambda: f"Pertinent negatives: no {', no '.join(some(rng, c[4], rng.randint(2, 4)))}.",
        lambda: f"Associated symptoms include {join_and(some(rng, c[3], rng.randint(1, 4)))}.",
        lambda: f"Similar {c[0]} {rng.randint(2, 6)} years ago, diagnosed as {rng.choice(c[5])}.",
    ])


def t_exam(rng: random.Random) -> str:
    return one_of(rng, [
        lambda: "; ".join(f"{k}: {rng.choice(EXAM[k])}" for k in some(rng, list(EXAM), rng.randint(1, 5))) + ".",
        lambda: f"On exam, {rng.choice(EXAM_PROSE)}.",
        lambda: f"Exam notable for {join_and(some(rng, EXAM_PROSE, rng.randint(2, 3)))}.",
        lambda: f"Examination is otherwise unremarkable apart from {rng.choice(EXAM_PROSE)}.",
        lambda: "PE: " + " ".join(cap(rng.choice(EXAM[k])) + "." for k in ("General", "CV", "Lungs")),
    ])


def t_vitals(rng: random.Random) -> str:
    v = vitals(rng)
    forms = [
        "BP {bp}, HR {hr}, RR {rr}, T {tc} C, SpO2 {spo2}% on {o2}.",
        "Vitals: T {tf} F, P {hr}, R {rr}, BP {bp}, O2 sat {spo2}% {o2}.",
        "VS: {bp} | {hr} | {rr} | {tc} | {spo2}% {o2}",
        "Afebrile, HR {hr}, BP {bp}, saturating {spo2}% on {o2}.",
        "Temp {tc} C, pulse {hr}, blood pressure {bp}, respiratory rate {rr}, pain {pain}/10.",
        "Weight {wt} kg; BP {bp}; HR {hr}.",
        "Triage vitals BP {bp}, HR {hr}, GCS {gcs}, SpO2 {spo2}%.",
        "{time} vitals: BP {bp}, HR {hr}, SpO2 {spo2}% {o2}, pain {pain}/10.",
        "Febrile to {fever} C overnight with HR {hr}; BP {bp}.",
    ]
    return rng.choice(forms).format(time=rng.choice(TIMES), fever=number(rng, 38.1, 40.4, 1), **v)


def t_labs(rng: random.Random) -> str:
    form = rng.randrange(7)
    if form == 0:
        shown: dict[str, str] = {}
        for lab, value, flag in [lab_value(rng) for _ in range(rng.randint(2, 6))]:
            shown.setdefault(lab[1], lab_text(lab, value, True) + (f" ({flag})" if flag else ""))
        return "Labs: " + ", ".join(shown.values()) + "."
    lab, value, flag = lab_value(rng)
    name, unit = lab[0], f" {lab[5]}" if lab[5] else ""
    if form == 1:
        word = {"H": "elevated", "L": "low", "": "within normal limits"}[flag]
        return f"{cap(lab_text(lab, value, rng.random() < 0.4))}, {word}."
    if form == 2:
        prev = number(rng, lab[2], lab[3], lab[4])
        return alt(rng, f"{cap(name)} [trended|went|changed] from {prev} to {value}{unit} over "
                        "[24 hours|2 days|the admission|one week].")
    if form == 3:
        return f"Repeat {name} {value}{unit} at {rng.choice(TIMES)}."
    if form == 4:
        return rng.choice(URINE) + "."
    if form == 5:
        return cap(rng.choice(MICRO)) + "."
    return f"Notable labs include {lab_text(lab, value, False)} and {lab_text(*lab_value(rng)[:2], False)}."


def t_imaging(rng: random.Random) -> str:
    study, impressions = rng.choice(IMAGING)
    imp = rng.choice(impressions)
    return one_of(rng, [
        lambda: f"{study}: {imp}.",
        lambda: f"{study} shows {imp}.",
        lambda: f"Impression: {cap(imp)}.",
        lambda: f"{study} reviewed with the radiologist: {imp}.",
        lambda: f"{study} today demonstrates {imp}; compared with prior study, [new|unchanged|improved|worsened].",
        lambda: f"Radiology read, {study}: {imp}. Clinical correlation recommended.",
    ])


def t_ecg(rng: random.Random) -> str:
    finding = rng.choice(ECG).format(hr=rng.randint(38, 168))
    forms = [f"ECG: {finding}.", f"EKG shows {finding}.", f"12-lead ECG with {finding}; compared with prior.",
             f"Telemetry overnight: {finding}.", f"Repeat ECG: {finding}, no dynamic changes."]
    return rng.choice(forms)


def t_medication(rng: random.Random) -> str:
    name, dose, unit, route, freq, ind = drug_line(rng)
    return one_of(rng, [
        lambda: f"{cap(name)} {dose} {unit} {route} {freq}.",
        lambda: f"Start {name} {dose} {unit} {route} {freq} for {ind}.",
        lambda: f"Continue home {name} {dose} {unit} {freq}.",
        lambda: f"Hold {name} given [hypotension|AKI|NPO status|bradycardia|hyperkalemia|bleeding risk|upcoming "
                "procedure|somnolence].",
        lambda: f"Given {name} {dose} {unit} {route} x1 in the ED with [improvement|good effect|partial relief|no "
                "improvement].",
        lambda: f"Discontinue {name} due to [rash|nausea|dizziness|QTc prolongation|elevated LFTs|cough|angioedema|"
                "hypotension|patient preference|drug interaction].",
        lambda: f"Increase {name} to {dose} {unit} {freq}; recheck in {rng.randint(1, 6)} weeks.",
        lambda: "Home meds: " + "; ".join(f"{d[0]} {d[1]} {d[2]} {d[4]}"
                                          for d in (drug_line(rng) for _ in range(rng.randint(2, 5)))) + ".",
        lambda: f"Rx: {name} {dose} {unit} {route} {freq}, disp #[10|14|20|28|30|60|90], refills {rng.randint(0, 5)}.",
        lambda: f"Patient takes {name} for {ind} but admits to missing doses [occasionally|most weekends|when feeling "
                "well|because of cost].",
        lambda: f"Medication reconciliation completed; {name} dose confirmed as {dose} {unit} {freq}.",
    ])


def t_allergy(rng: random.Random) -> str:
    picks = some(rng, [a for a, _ in ALLERGENS], rng.randint(1, 3))
    reactions = dict(ALLERGENS)
    return one_of(rng, [
        lambda: "Allergies: " + ", ".join(f"{a} ({rng.choice(reactions[a])})" for a in picks) + ".",
        lambda: "No known drug allergies.",
        lambda: "NKDA, no latex allergy.",
        lambda: f"Allergic to {join_and(picks)}.",
        lambda: f"Reports {rng.choice(reactions[picks[0]])} with {picks[0]} in the past; documented as "
                "[allergy|intolerance].",
        lambda: f"Allergy band applied for {join_and(picks)}.",
    ])


def t_assessment_plan(rng: random.Random) -> str:
    c = rng.choice(COMPLAINTS)
    dx = rng.choice(c[5])
    work = some(rng, c[6], rng.randint(1, 3))
    plans = some(rng, PLANS, rng.randint(1, 3))
    specialty, question = rng.choice(CONSULTS)
    return one_of(rng, [
        lambda: f"Assessment: {dx}, {rng.choice(STATUSES)}. Plan: {'; '.join(work + plans)}.",
        lambda: f"A/P: {c[1]}, likely {dx}; will obtain {join_and(work)}.",
        lambda: f"#{rng.randint(1, 6)} {cap(dx)} - {rng.choice(STATUSES)}; {'; '.join(plans)}.",
        lambda: f"Differential includes {join_and(some(rng, c[5], rng.randint(2, 4)))}.",
        lambda: f"Impression: {dx}. Low suspicion for {rng.choice([d for d in c[5] if d != dx])}.",
        lambda: f"Plan: {'; '.join(plans)}.",
        lambda: f"Will [order|check|obtain|follow up] {join_and(work)} and reassess in the morning.",
        lambda: f"Consult {specialty} re: {question}.",
        lambda: f"{cap(specialty)} consulted for {question}; recommendations appreciated.",
        lambda: f"Outpatient {rng.choice(SPECIALTIES)} referral placed; [routine|urgent|2-week wait] priority.",
        lambda: f"Problem list: {', '.join(pmh_list(rng, True))}; {dx} ({rng.choice(STATUSES)}).",
    ])


def t_discharge(rng: random.Random) -> str:
    name, dose, unit, route, freq, ind = drug_line(rng)
    lay_freq = {"daily": "once a day", "BID": "twice a day", "TID": "three times a day", "QID": "four times a day",
                "nightly": "at bedtime", "weekly": "once a week"}.get(freq, freq)
    return one_of(rng, [
        lambda: f"Return to the emergency department if you have {join_and(some(rng, WARNINGS, rng.randint(1, 3)))}.",
        lambda: f"Take {name} {dose} {unit} {lay_freq}[| with food| on an empty stomach| with a full glass of water].",
        lambda: "Follow up with your [primary care doctor|cardiologist|surgeon|kidney doctor|diabetes nurse|midwife|"
                f"GP] in {rng.choice(DAYS_WORDS)} [days|weeks].",
        lambda: f"Do not [lift anything heavier than 5 kg|drive|swim|play contact sports|drink alcohol|take baths] for "
                f"{rng.choice(DAYS_WORDS)} weeks.",
        lambda: "You may shower after [24|48|72] hours, but do not soak the wound.",
        lambda: "Keep your [leg|arm|foot|hand] raised on pillows as much as possible to reduce swelling.",
        lambda: f"Stop taking {name} and call us if you notice [a rash|swelling of the lips|dark urine|severe stomach "
                "pain|muscle aches].",
        lambda: f"Discharge diagnosis: {rng.choice(rng.choice(COMPLAINTS)[5])}. Condition on discharge: "
                "[stable|good|improved|fair].",
        lambda: "Discharged home with [family|spouse|home health services|a walker|home oxygen]; follow-up "
                "appointment made.",
        lambda: f"Call the clinic right away if you notice {rng.choice(WARNINGS)}.",
        lambda: "Drink plenty of fluids, rest, and use [acetaminophen|ibuprofen|saline nose spray|throat lozenges] as "
                "needed for comfort.",
    ])


def t_nursing(rng: random.Random) -> str:
    v = vitals(rng)
    name, dose, unit, route, *_ = drug_line(rng)
    time = rng.choice(TIMES)
    return one_of(rng, [
        lambda: f"{time}: Pt {rng.choice(NURSING_OBS)}; {rng.choice(NURSING_ACTIONS)}.",
        lambda: f"Pt {rng.choice(NURSING_OBS)}, {rng.choice(NURSING_ACTIONS)}, {rng.choice(NURSING_ACTIONS)}.",
        lambda: f"Pain {v['pain']}/10 [abdomen|incision|lower back|chest|right hip|head]; {name} {dose} {unit} {route} "
                f"given at {time}, reassessed at {rng.randint(0, 5)}/10.",
        lambda: f"Intake {rng.randint(2, 28) * 50} mL, output {rng.randint(2, 30) * 50} mL over the shift.",
        lambda: f"IV site {rng.choice(IV_SITES)} [clean and patent|infiltrated, removed and resited|flushed without "
                "resistance|slightly red, warm compress applied].",
        lambda: f"Fingerstick glucose {rng.randint(54, 412)} mg/dL at {time}; [covered per sliding scale|no coverage "
                "needed|MD notified|juice given and rechecked].",
        lambda: f"Braden score {rng.randint(9, 23)}, Morse fall score {rng.randint(0, 12) * 5}; "
                f"{rng.choice(NURSING_ACTIONS)}.",
        lambda: f"Shift summary: pt {rng.choice(NURSING_OBS)} and {rng.choice(NURSING_OBS)}; "
                f"{rng.choice(NURSING_ACTIONS)}.",
        lambda: f"Foley draining [clear yellow|amber|blood-tinged|cloudy] urine, {rng.randint(15, 120)} mL/h.",
        lambda: "Wound [dressing dry and intact|with moderate serosanguinous drainage|edges approximated|packed with "
                f"gauze]; {rng.choice(NURSING_ACTIONS)}.",
    ])


def t_social_family(rng: random.Random) -> str:
    sh = {k: rng.choice(v) for k, v in SOCIAL.items()}
    return one_of(rng, [
        lambda: f"SH: {sh['living']}; {sh['tobacco']}; {sh['alcohol']}; {sh['drugs']}.",
        lambda: f"Social history: {sh['work']}, {sh['living']}, {sh['tobacco']}.",
        lambda: f"FHx: {join_and(some(rng, FAMILY, rng.randint(1, 3)))}.",
        lambda: f"Family history is notable for {rng.choice(FAMILY)}.",
        lambda: f"Occupation: {sh['work']}; {sh['living']}; [independent in ADLs|needs help with bathing|fully "
                "independent|uses a wheelchair|ambulatory with a cane].",
    ])


def t_ros(rng: random.Random) -> str:
    pos = some(rng, ROS_ITEMS, rng.randint(1, 3))
    neg = some(rng, [r for r in ROS_ITEMS if r not in pos], rng.randint(2, 6))
    return one_of(rng, [
        lambda: f"ROS: positive for {join_and(pos)}; negative for {join_and(neg)}.",
        lambda: f"ROS negative for {', '.join(neg)}.",
        lambda: f"10-point ROS otherwise negative except as noted in HPI ({', '.join(pos)}).",
        lambda: f"Denies {join_and(neg)}.",
    ])


def t_procedure(rng: random.Random) -> str:
    name, finding, anesthesia = rng.choice(PROCEDURES)
    finding = finding.format(vol=number(rng, 0.6, 6.5, 1), op=rng.randint(8, 38), cm=rng.randint(1, 9),
                             n=rng.randint(2, 9), ml=rng.randint(5, 90), j=rng.choice([100, 120, 150, 200]))
    forms = [
        f"{name} performed under {anesthesia}; {finding}; no complications.",
        f"Procedure: {name.lower()}. Findings: {finding}. EBL minimal.",
        f"Consent obtained for {name.lower()}; risks including bleeding and infection discussed.",
        f"{name}: {finding}. Patient tolerated well.",
    ]
    return rng.choice(forms)


def t_peds(rng: random.Random) -> str:
    months, years = rng.randint(1, 35), rng.randint(3, 17)
    child = rng.choice(["boy", "girl", "infant", "child"])
    return one_of(rng, [
        lambda: f"{months}-month-old {child} with {rng.choice(PEDS_COMPLAINTS)} for {rng.choice(DURATIONS[:10])[0]}; "
                f"{rng.choice(PEDS_FINDINGS)}.",
        lambda: f"{years}-year-old {child} brought in by [mother|father|grandmother|parents|school nurse] for "
                f"{rng.choice(PEDS_COMPLAINTS)}.",
        lambda: f"Weight {number(rng, 3.2, 38.0, 1)} kg ({rng.randint(3, 97)}th percentile); "
                f"{rng.choice(PEDS_FINDINGS)}.",
        lambda: f"Taking {rng.randint(2, 6)} oz of formula every {rng.randint(2, 4)} hours with {rng.randint(3, 8)} "
                "wet diapers per day.",
        lambda: f"Exam: {join_and(some(rng, PEDS_FINDINGS, rng.randint(2, 4)))}.",
        lambda: "Amoxicillin [40|45|80|90] mg/kg/day divided BID for [5|7|10] days.",
        lambda: "Dexamethasone 0.6 mg/kg PO x1 given for croup; [stridor resolved|observed for 3 hours|improved work "
                "of breathing].",
        lambda: "Immunizations [up to date|delayed, catch-up schedule given|2-month vaccines given today|declined by "
                "parents after counseling].",
        lambda: "Developmental milestones [appropriate for age|mildly delayed in speech|met, walking and saying "
                "several words].",
        lambda: f"Febrile to {number(rng, 38.0, 40.4, 1)} C at home, given ibuprofen [5|10] mg/kg at "
                f"{rng.choice(TIMES)}.",
    ])


def t_ob(rng: random.Random) -> str:
    g = rng.randint(1, 6)
    p = rng.randint(0, g - 1)
    wk, d = rng.randint(6, 41), rng.randint(0, 6)
    return one_of(rng, [
        lambda: f"G{g}P{p} at {wk}w{d}d presenting with {rng.choice(OB_COMPLAINTS)}.",
        lambda: f"At {max(wk, 20)} weeks, fundal height {max(wk, 20) + rng.randint(-3, 3)} cm, "
                f"FHR {rng.randint(110, 165)} bpm.",
        lambda: f"Cervix {rng.randint(0, 10)} cm dilated, [0|30|50|70|80|90|100]% effaced, station [-3|-2|-1|0|+1|+2].",
        lambda: "GBS [negative|positive, penicillin started|unknown, intrapartum prophylaxis given]; Rh [positive|"
                "negative, anti-D given at 28 weeks].",
        lambda: f"CTG: baseline {rng.randint(110, 160)} bpm, [moderate variability|reduced variability|accelerations "
                "present|late decelerations noted|no decelerations].",
        lambda: f"[Spontaneous vaginal delivery|Cesarean section|Assisted vaginal delivery] at {wk}w{d}d; "
                f"EBL {rng.randint(2, 16) * 50} mL; Apgars {rng.randint(5, 9)} and {rng.randint(7, 10)}.",
        lambda: f"Postpartum day {rng.randint(1, 3)}: [fundus firm|lochia moderate|breastfeeding well|perineum "
                "healing|incision clean and dry], [voiding|ambulating|pain controlled|BP normal].",
        lambda: "Prenatal labs: [rubella immune|HIV negative|hepatitis B negative|GTT normal|Hgb 10.9 g/dL].",
    ])


def t_psych(rng: random.Random) -> str:
    m = {k: rng.choice(v) for k, v in PSYCH_MSE.items()}
    return one_of(rng, [
        lambda: (f"MSE: {m['appearance']}, {m['behavior']}; speech {m['speech']}; mood {m['mood']}, affect "
                 f"{m['affect']}; thought process {m['thought']}; {m['risk']}; {m['insight']}."),
        lambda: f"PHQ-9 {rng.randint(0, 27)}, GAD-7 {rng.randint(0, 21)}.",
        lambda: f"Mood {m['mood']} with {m['affect']} affect; {m['risk']}.",
        lambda: f"Patient reports {join_and(some(rng, complaint('depressed mood')[3], rng.randint(2, 4)))} for "
                f"{duration(rng, False)}.",
        lambda: "C-SSRS screen [negative|low risk|moderate risk, safety plan completed|positive, 1:1 observation "
                "ordered].",
        lambda: "Started [sertraline|escitalopram|fluoxetine|bupropion|mirtazapine]; discussed side effects and that "
                "benefit may take 4-6 weeks.",
        lambda: "Referred for [CBT|group therapy|psychiatric follow-up|addiction services|crisis team review].",
    ])


def t_lay(rng: random.Random) -> str:
    return one_of(rng, [
        lambda: f"I've had {rng.choice(LAY_SYMPTOMS)} for {duration(rng, False)} and {rng.choice(LAY_CONCERNS)}.",
        lambda: f"Hi, I have {rng.choice(LAY_SYMPTOMS)} and {rng.choice(LAY_SYMPTOMS)}; should I book an appointment?",
        lambda: family_message(rng),
        lambda: f"Patient message: {rng.choice(LAY_SYMPTOMS)} since {rng.choice(SINCE)}, {rng.choice(LAY_CONCERNS)}.",
        lambda: f"Telephone triage: caller reports {third_person(rng.choice(LAY_SYMPTOMS))}; advised [same-day "
                "appointment|self-care and to call back if worse|urgent care today|to call 911|pharmacist review].",
    ])


def t_note(rng: random.Random) -> str:
    """A short note about one complaint; trailing sections are dropped to stay within MAX_WORDS."""
    c = rng.choice(COMPLAINTS)
    age, sex, s = age_sex(rng)
    v = vitals(rng)
    systems = EXAM_SYSTEMS.get(c[0], [])
    systems = ["General"] + some(rng, systems, rng.randint(min(1, len(systems)), len(systems)))
    exam = [f"{k}: {rng.choice(EXAM[k])}" for k in systems]
    dx = some(rng, c[5], 2)
    parts = [
        rng.choice([f"{age}{s} with {c[1]} x {duration(rng, True)}, {', '.join(some(rng, c[3], 2))}.",
                    f"{age}-year-old {sex} with {course(rng, c)} and "
                    f"{rng.choice(c[3])}; no {rng.choice(c[4])}.",
                    f"Seen for {c[0]} {onset(rng, c)}, with {join_and(some(rng, c[3], 2))}."]),
        rng.choice([f"BP {v['bp']}, HR {v['hr']}, T {v['tc']}, SpO2 {v['spo2']}% {v['o2']}.",
                    f"HR {v['hr']}, RR {v['rr']}, T {v['tc']} C.",
                    f"VS: {v['bp']}, {v['hr']}, {v['rr']}, {v['tc']}."]),
        "; ".join(exam) + ".",
        rng.choice([f"Impression: {dx[0]}, {'vs ' + dx[1] if len(dx) > 1 else 'new'}.",
                    f"Likely {dx[0]}.", f"Assessment: {dx[0]}."]),
        rng.choice([f"Plan: {join_and(some(rng, c[6], rng.randint(1, 3)))}, {rng.choice(PLANS)}.",
                    f"Will obtain {join_and(some(rng, c[6], 2))} and reassess."]),
    ]
    text = ""
    for part in parts:
        candidate = f"{text} {part}".strip()
        if len(candidate.split()) > MAX_WORDS:
            break
        text = candidate
    return text


FAMILIES: list[tuple[Callable[[random.Random], str], int]] = [
    (t_chief_complaint, 6), (t_hpi, 10), (t_hpi_sentence, 9), (t_exam, 8), (t_vitals, 6), (t_labs, 9),
    (t_imaging, 6), (t_ecg, 3), (t_medication, 10), (t_allergy, 2), (t_assessment_plan, 9), (t_discharge, 6),
    (t_nursing, 6), (t_social_family, 3), (t_ros, 2), (t_procedure, 2), (t_peds, 4), (t_ob, 3), (t_psych, 3),
    (t_lay, 4), (t_note, 8),
]
_CUMULATIVE = [sum(w for _, w in FAMILIES[:i + 1]) for i in range(len(FAMILIES))]


def template_line(rng: random.Random) -> str:
    draw = rng.randrange(_CUMULATIVE[-1])
    family = next(f for (f, _), c in zip(FAMILIES, _CUMULATIVE) if draw < c)
    return " ".join(family(rng).split())


def template_lines(rng: random.Random, n: int, exclude: dict[str, None]) -> list[str]:
    """n distinct template lines of MIN_WORDS..MAX_WORDS words, none in `exclude`."""
    out: dict[str, None] = {}
    for _ in range(n * 50):
        if len(out) == n:
            return list(out)
        line = template_line(rng)
        if MIN_WORDS <= len(line.split()) <= MAX_WORDS and line not in exclude and line not in out:
            out[line] = None
    raise RuntimeError(f"only {len(out)} of {n} distinct template lines; widen the vocabularies")


# ---- the sets --------------------------------------------------------------------------------------------------------


def generate() -> dict[str, list[str]]:
    """File name -> lines, for every file this script writes."""
    for line in CALIB_HANDWRITTEN + EVAL_HANDWRITTEN + DEMO_DOCUMENTS:
        if out_of_shape(line):
            raise ValueError(f"hand-written line out of shape ({len(line.split())} words): {line!r}")
    for lines in (CALIB_HANDWRITTEN, EVAL_HANDWRITTEN, DEMO_DOCUMENTS):
        if len(dict.fromkeys(lines)) != len(lines):
            raise ValueError("duplicate hand-written line")
    if any(i < 1 or i > len(DEMO_DOCUMENTS) for _, i in DEMO_QUERIES):
        raise ValueError("demo query names a document that does not exist")

    # The held-out set is drawn first; nothing drawn afterwards may repeat one of its lines.
    eval_lines = list(EVAL_HANDWRITTEN)
    eval_lines += template_lines(random.Random(SEED + 1), N_EVAL_TEMPLATE,
                                 dict.fromkeys(eval_lines + CALIB_HANDWRITTEN + DEMO_DOCUMENTS))
    held_out = dict.fromkeys(eval_lines)

    calib = list(CALIB_HANDWRITTEN)
    calib += template_lines(random.Random(SEED + 2), N_CALIB_TEMPLATE, {**held_out, **dict.fromkeys(calib)})

    seeded = calib + DEMO_DOCUMENTS + corpus_sentences(held_out, dict.fromkeys(calib + DEMO_DOCUMENTS))
    corpus_rng = random.Random(SEED + 3)
    corpus = seeded + template_lines(corpus_rng, N_CORPUS_TEMPLATE, {**held_out, **dict.fromkeys(seeded)})
    corpus_rng.shuffle(corpus)

    if set(eval_lines) & (set(calib) | set(corpus)):
        raise AssertionError("evaluation lines leaked into calibration or corpus")
    return {
        "clinical_calib.txt": calib,
        "clinical_eval.txt": eval_lines,
        "clinical_corpus.txt": corpus,
        "demo_documents.txt": list(DEMO_DOCUMENTS),
        "demo_queries.txt": [f"{query}\t{index}" for query, index in DEMO_QUERIES],
    }


def out_of_shape(line: str) -> bool:
    """A hand-written line must have MIN_WORDS..MAX_WORDS words, no surrounding spaces and no tab."""
    return not MIN_WORDS <= len(line.split()) <= MAX_WORDS or line != line.strip() or "\t" in line


def corpus_sentences(held_out: dict[str, None], taken: dict[str, None]) -> list[str]:
    """The lines of tools/corpus_sentences/*.txt (files in name order), checked like the hand-written lists."""
    lines: dict[str, None] = {}
    for path in sorted(CORPUS_SENTENCES_DIR.glob("*.txt")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.name}:{number}"
            if out_of_shape(line):
                raise ValueError(f"{where}: corpus sentence out of shape ({len(line.split())} words): {line!r}")
            if line in held_out:
                raise ValueError(f"{where}: corpus sentence is an evaluation line: {line!r}")
            if line in taken or line in lines:
                raise ValueError(f"{where}: duplicate corpus sentence: {line!r}")
            lines[line] = None
    return list(lines)


def render(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk; write nothing")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help=f"output folder (default {DATA_DIR})")
    args = parser.parse_args(argv)
    stale = []
    for name, lines in generate().items():
        path = args.out / name
        text = render(lines)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
            print(f"{path}: {len(lines)} lines")
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
